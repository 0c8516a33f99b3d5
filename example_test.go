package shoal_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"syscall"
	"time"

	"github.com/shoalfs/shoal"
)

// openExample opens a Client on a fresh data directory; the returned
// func closes it and removes the directory.
func openExample() (*shoal.Client, func()) {
	dir, err := os.MkdirTemp("", "shoal-example")
	if err != nil {
		log.Fatal(err)
	}
	c, err := shoal.OpenLocal(context.Background(), dir)
	if err != nil {
		log.Fatal(err)
	}
	return c, func() {
		c.Close()
		os.RemoveAll(dir)
	}
}

func ExampleOpenLocal() {
	dir, err := os.MkdirTemp("", "shoal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	c, err := shoal.OpenLocal(context.Background(), dir)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	if err := c.MkdirAll("datasets/mnist", 0o755); err != nil {
		log.Fatal(err)
	}
	if err := c.WriteFile("datasets/mnist/README", []byte("hello, shoal\n"), 0o644); err != nil {
		log.Fatal(err)
	}
	data, err := c.ReadFile("datasets/mnist/README")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(data))

	_, err = c.Stat("datasets/missing")
	fmt.Println(errors.Is(err, fs.ErrNotExist))
	// Output:
	// hello, shoal
	// true
}

// Dial reaches running servers (`shoal server`) by address; the Client
// then behaves as one from OpenLocal. (Not run: it needs a server.)
func ExampleDial() {
	c, err := shoal.Dial(context.Background(), "127.0.0.1:7700", shoal.WithFS("default"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fi, err := c.Stat(".")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(fi.IsDir())
}

// A File is an open file, as os.File: reads and writes at an offset or
// at the file position, Sync for durability, and Close, after which any
// Client that opens the file sees the data (close-to-open).
func ExampleClient_OpenFile() {
	c, done := openExample()
	defer done()

	f, err := c.OpenFile("log.txt", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	for i := range 3 {
		fmt.Fprintf(f, "line %d\n", i)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}

	f, err = c.OpenFile("log.txt", os.O_RDWR, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("LINE"), 7); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := f.ReadAt(buf, 7); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", buf)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		log.Fatal(err)
	}
	all, err := io.ReadAll(f)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(all))
	// Output:
	// "LINE 1"
	// line 0
	// LINE 1
	// line 2
}

// Errors carry the operation, the name and a Kind with one errno; they
// match the io/fs sentinels and syscall.Errno values. The text reads down
// the layers: the SDK call, then the cause (here, which component of the
// name is missing).
func ExampleError() {
	c, done := openExample()
	defer done()

	err := c.Mkdir("a/b", 0o755)
	var e *shoal.Error
	if errors.As(err, &e) {
		fmt.Println(e.Op, e.Path, e.Kind == shoal.KindNotExist, e.Kind.Errno() == syscall.ENOENT)
	}
	fmt.Println(errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOENT))
	fmt.Println(err)
	// Output:
	// mkdir a/b true true
	// true true
	// mkdir a/b: meta.Resolve a: no such file or directory
}

// Rename takes renameat2's flags: RenameNoReplace refuses to replace a
// target, RenameExchange swaps two names atomically.
func ExampleClient_Rename() {
	c, done := openExample()
	defer done()

	for name, text := range map[string]string{"old": "v1", "new": "v2"} {
		if err := c.WriteFile(name, []byte(text), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	err := c.Rename("new", "old", shoal.RenameNoReplace)
	fmt.Println(errors.Is(err, fs.ErrExist))
	if err := c.Rename("new", "old", shoal.RenameExchange); err != nil {
		log.Fatal(err)
	}
	v, _ := c.ReadFile("old")
	fmt.Println(string(v))
	// Output:
	// true
	// v2
}

// Walk visits a tree one directory at a time, as Python's os.walk.
func ExampleClient_Walk() {
	c, done := openExample()
	defer done()

	for _, d := range []string{"src/a", "src/b"} {
		if err := c.MkdirAll(d, 0o755); err != nil {
			log.Fatal(err)
		}
	}
	for _, f := range []string{"src/main.go", "src/a/x.go", "src/b/y.go"} {
		if err := c.WriteFile(f, nil, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	err := c.Walk("src", func(dir string, dirs, files []fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fmt.Print(dir, ":")
		for _, f := range files {
			fmt.Print(" ", f.Name())
		}
		fmt.Println()
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// src: main.go
	// src/a: x.go
	// src/b: y.go
}

// SetAttr changes several attributes in one call, as the mask selects.
func ExampleClient_SetAttr() {
	c, done := openExample()
	defer done()

	if err := c.WriteFile("f", []byte("0123456789"), 0o644); err != nil {
		log.Fatal(err)
	}
	mtime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	a, err := c.SetAttr("f", shoal.SetAttrMode|shoal.SetAttrSize|shoal.SetAttrMtime,
		shoal.Attr{Mode: 0o600, Size: 4, Mtime: mtime})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a.Mode.Perm(), a.Size, a.Mtime.UTC().Format(time.RFC3339))
	// Output:
	// -rw------- 4 2024-01-02T03:04:05Z
}
