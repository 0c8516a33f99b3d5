package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shoalfs/shoal/internal/fserr"
)

// The workload bodies below are the only code that touches a target during
// a measurement, so Shoal and the host run exactly the same calls. Each one
// returns the elapsed time of its measured part only.

// writeBig writes size bytes in ioSize writes, fsyncs and closes.
func writeBig(ctx context.Context, t target, name string, size int64, ioSize int) (time.Duration, error) {
	buf := pattern(ioSize, 1)
	start := time.Now()
	f, err := t.Create(name)
	if err != nil {
		return 0, err
	}
	for done := int64(0); done < size; {
		if err := ctx.Err(); err != nil {
			f.Close()
			return 0, err
		}
		// A counter in every write keeps each block distinct.
		binary.LittleEndian.PutUint64(buf, uint64(done))
		n := int64(len(buf))
		if size-done < n {
			n = size - done
		}
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return 0, err
		}
		done += n
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// readWhole opens name, reads it to the end with buf and closes it,
// returning the bytes read.
func readWhole(t target, name string, buf []byte) (int64, error) {
	f, err := t.Open(name)
	if err != nil {
		return 0, err
	}
	var total int64
	for {
		n, err := f.Read(buf)
		total += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			f.Close()
			return total, err
		}
	}
	return total, f.Close()
}

func readBig(ctx context.Context, t target, name string, size int64, ioSize int) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	buf := make([]byte, ioSize)
	start := time.Now()
	n, err := readWhole(t, name, buf)
	if err != nil {
		return 0, err
	}
	d := time.Since(start)
	if n != size {
		return 0, fserr.Errorf("bench.read", fserr.IO, "%s: %s: got %d bytes, want %d", t.Name(), name, n, size)
	}
	return d, nil
}

// spread runs fn(g) for g in [0, threads) concurrently and returns the
// elapsed time from the first start to the last finish.
func spread(ctx context.Context, threads int, fn func(ctx context.Context, g int) error) (time.Duration, error) {
	eg, ctx := errgroup.WithContext(ctx)
	start := time.Now()
	for g := 0; g < threads; g++ {
		eg.Go(func() error { return fn(ctx, g) })
	}
	err := eg.Wait()
	return time.Since(start), err
}

func smallName(dir string, i int) string { return fmt.Sprintf("%s/f%06d", dir, i) }

// writeSmall creates n files of size bytes in dir (create+write+close, no
// fsync on either target), thread g taking every threads-th file.
func writeSmall(ctx context.Context, t target, dir string, n, size, threads int) (time.Duration, error) {
	data := pattern(size, 2)
	return spread(ctx, threads, func(ctx context.Context, g int) error {
		for i := g; i < n; i += threads {
			if err := ctx.Err(); err != nil {
				return err
			}
			f, err := t.Create(smallName(dir, i))
			if err != nil {
				return err
			}
			if _, err := f.Write(data); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		}
		return nil
	})
}

func readSmall(ctx context.Context, t target, dir string, n, size, threads int) (time.Duration, error) {
	return spread(ctx, threads, func(ctx context.Context, g int) error {
		// One byte more than the file so a single Read normally sees EOF
		// next, as a real small-file reader's buffer would.
		buf := make([]byte, size+1)
		for i := g; i < n; i += threads {
			if err := ctx.Err(); err != nil {
				return err
			}
			name := smallName(dir, i)
			got, err := readWhole(t, name, buf)
			if err != nil {
				return err
			}
			if got != int64(size) {
				return fserr.Errorf("bench.read", fserr.IO, "%s: %s: got %d bytes, want %d", t.Name(), name, got, size)
			}
		}
		return nil
	})
}

// metaLayout is the metadata workload's tree: dirs directories under root,
// files empty files spread evenly over them. Goroutine g owns the
// directories d with d%threads == g, so no two goroutines write one
// directory (the case a parallel untar or checkpoint writer produces).
type metaLayout struct {
	root    string
	dirs    int
	files   int
	threads int
}

func (l metaLayout) dir(d int) string { return fmt.Sprintf("%s/d%04d", l.root, d) }

// perDir is how many files directory d holds.
func (l metaLayout) perDir(d int) int {
	n := l.files / l.dirs
	if d < l.files%l.dirs {
		n++
	}
	return n
}

func (l metaLayout) mkdirs(t target) error {
	for d := 0; d < l.dirs; d++ {
		if err := t.MkdirAll(l.dir(d)); err != nil {
			return err
		}
	}
	return nil
}

func touch(t target) func(int, string) error {
	return func(_ int, name string) error { return t.Touch(name) }
}
func stat(t target) func(int, string) error {
	return func(_ int, name string) error { return t.Stat(name) }
}

// each runs op(g, name) on every file of the layout, goroutine g over its
// own directories.
func (l metaLayout) each(ctx context.Context, op func(g int, name string) error) (time.Duration, error) {
	return spread(ctx, l.threads, func(ctx context.Context, g int) error {
		for d := g; d < l.dirs; d += l.threads {
			dir := l.dir(d)
			for i, n := 0, l.perDir(d); i < n; i++ {
				if i%256 == 0 {
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				if err := op(g, smallName(dir, i)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// fillDir creates n empty files in dir with threads goroutines.
func fillDir(ctx context.Context, t target, dir string, n, threads int) error {
	_, err := spread(ctx, threads, func(ctx context.Context, g int) error {
		for i := g; i < n; i += threads {
			if err := t.Touch(smallName(dir, i)); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
	return err
}

func readDirTimed(t target, dir string, want int) (time.Duration, error) {
	start := time.Now()
	n, err := t.ReadDirLen(dir)
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if n != want {
		return 0, fserr.Errorf("bench.readdir", fserr.IO, "%s: %s: %d entries, want %d", t.Name(), dir, n, want)
	}
	return d, nil
}

// pattern returns n bytes that are neither zero nor trivially repetitive,
// so no layer can shortcut them (sparse zero detection, dedup of equal
// blocks within one buffer).
func pattern(n int, seed uint64) []byte {
	b := make([]byte, n)
	x := seed*0x9E3779B97F4A7C15 + 1
	for i := 0; i+8 <= n; i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		for k := 0; k < 8; k++ {
			b[i+k] = byte(x >> (8 * k))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(i)
	}
	return b
}
