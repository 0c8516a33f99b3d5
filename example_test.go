package shoal_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"

	"github.com/shoalfs/shoal"
)

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
