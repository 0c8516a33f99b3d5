// Package progress draws a one-line transfer progress bar (bytes done and
// total, rate, ETA) for interactive terminals.
//
// Invariants: a Bar never draws more often than its redraw interval
// (100 ms), never draws before its initial delay has passed (so quick
// transfers stay silent), and draws nothing at all when it was made by
// ForTerminal for a writer that is not a terminal. A nil *Bar is a valid,
// silent bar, so callers need no "if bar != nil" checks.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

const (
	redrawInterval = 100 * time.Millisecond
	initialDelay   = 500 * time.Millisecond
	barWidth       = 24
)

// Bar is a progress bar for one transfer. It is safe for concurrent use.
type Bar struct {
	w     io.Writer
	label string
	total int64 // < 0: unknown
	now   func() time.Time

	mu struct {
		sync.Mutex
		done     int64
		start    time.Time
		lastDraw time.Time
		drawn    bool // something is on the line and needs finishing
		finished bool
		lastLen  int
	}
}

// Option configures a Bar.
type Option func(*Bar)

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(b *Bar) { b.now = now } }

// New returns a bar that draws on w. total is the expected byte count, or
// a negative value when it is unknown (a pipe).
func New(w io.Writer, label string, total int64, opts ...Option) *Bar {
	b := &Bar{w: w, label: label, total: total, now: time.Now}
	for _, o := range opts {
		o(b)
	}
	b.mu.start = b.now()
	return b
}

// ForTerminal returns New(w, ...) when w is an *os.File attached to a
// terminal, and nil (a silent bar) otherwise: progress output in a log
// file or a pipe is noise.
func ForTerminal(w io.Writer, label string, total int64, opts ...Option) *Bar {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return New(w, label, total, opts...)
}

// Add records n more bytes done and redraws if the redraw interval passed.
func (b *Bar) Add(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mu.done += n
	if b.mu.finished {
		return
	}
	now := b.now()
	if now.Sub(b.mu.start) < initialDelay || now.Sub(b.mu.lastDraw) < redrawInterval {
		return
	}
	b.drawLocked(now)
}

// Write counts len(p) bytes, so a Bar can sit in an io.MultiWriter or an
// io.TeeReader.
func (b *Bar) Write(p []byte) (int, error) {
	b.Add(int64(len(p)))
	return len(p), nil
}

// Finish draws the final state and ends the line, if anything was drawn.
// Later calls do nothing.
func (b *Bar) Finish() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mu.finished {
		return
	}
	b.mu.finished = true
	if !b.mu.drawn {
		return
	}
	b.drawLocked(b.now())
	fmt.Fprint(b.w, "\n")
}

func (b *Bar) drawLocked(now time.Time) {
	line := Render(b.label, b.mu.done, b.total, now.Sub(b.mu.start))
	pad := ""
	if n := b.mu.lastLen - len(line); n > 0 {
		pad = strings.Repeat(" ", n) // erase the tail of a longer previous line
	}
	fmt.Fprintf(b.w, "\r%s%s", line, pad)
	b.mu.lastLen = len(line)
	b.mu.lastDraw = now
	b.mu.drawn = true
}

// Render formats one progress line (without the leading carriage return):
//
//	label  42% [=========>              ]  42.0M/100.0M  10.5M/s  ETA 0:05
//
// With an unknown total it shows bytes done and the rate only.
func Render(label string, done, total int64, elapsed time.Duration) string {
	var rate float64
	if elapsed > 0 {
		rate = float64(done) / elapsed.Seconds()
	}
	var sb strings.Builder
	if label != "" {
		sb.WriteString(label)
		sb.WriteString("  ")
	}
	if total < 0 {
		fmt.Fprintf(&sb, "%s  %s/s", Bytes(done), Bytes(int64(rate)))
		return sb.String()
	}
	frac := 1.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	fill := int(frac * barWidth)
	bar := strings.Repeat("=", fill)
	if fill < barWidth {
		bar += ">" + strings.Repeat(" ", barWidth-fill-1)
	}
	eta := "--:--"
	if secs := float64(total-done) / rate; rate > 0 && done <= total && secs < 100*3600 {
		eta = clock(time.Duration(secs * float64(time.Second)))
	}
	fmt.Fprintf(&sb, "%3d%% [%s] %s/%s  %s/s  ETA %s",
		int(frac*100), bar, Bytes(done), Bytes(total), Bytes(int64(rate)), eta)
	return sb.String()
}

// clock formats d as m:ss or h:mm:ss, rounded up to whole seconds.
func clock(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// Bytes formats n with binary units as a person reads them: 512, 1.5K,
// 23M, 1.2G. One decimal below 10 units, none above, like ls -h.
func Bytes(n int64) string {
	const units = "KMGTPE"
	if n < 1024 && n > -1024 {
		return fmt.Sprintf("%d", n)
	}
	v := float64(n)
	i := -1
	for (v >= 1024 || v <= -1024) && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v < 10 && v > -10 {
		return fmt.Sprintf("%.1f%c", v, units[i])
	}
	return fmt.Sprintf("%.0f%c", v, units[i])
}
