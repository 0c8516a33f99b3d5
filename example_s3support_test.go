package shoal_test

import (
	"errors"
	"fmt"
	"io/fs"
	"log"

	"github.com/shoalfs/shoal"
)

// ListNames pages through a directory in name order, one ordered scan per
// page, with an xattr's value per entry if asked (the S3 gateway lists
// buckets this way).
func ExampleClient_ListNames() {
	c, done := openExample()
	defer done()

	if err := c.Mkdir("bucket", 0o755); err != nil {
		log.Fatal(err)
	}
	for _, name := range []string{"c", "a", "d", "b"} {
		if err := c.WriteFile("bucket/"+name, []byte(name), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	if err := c.SetXattr("bucket/b", "user.etag", []byte("x1"), 0); err != nil {
		log.Fatal(err)
	}
	after := ""
	for {
		page, err := c.ListNames("bucket", after, 3, "user.etag")
		if err != nil {
			log.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			fmt.Printf("%s %d %q\n", e.Name, e.Attr.Size, e.Xattr)
		}
		after = page[len(page)-1].Name
	}
	// Output:
	// a 1 ""
	// b 1 "x1"
	// c 1 ""
	// d 1 ""
}

// CloneFile and ConcatFiles copy by sharing blocks: only slice records
// are written, however large the files (S3 CopyObject and multipart
// completion).
func ExampleClient_ConcatFiles() {
	c, done := openExample()
	defer done()

	for name, text := range map[string]string{"part1": "hello, ", "part2": "world\n"} {
		if err := c.WriteFile(name, []byte(text), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	if err := c.ConcatFiles("whole", []string{"part1", "part2"}); err != nil {
		log.Fatal(err)
	}
	if err := c.CloneFile("whole", "copy"); err != nil {
		log.Fatal(err)
	}
	v, err := c.ReadFile("copy")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(v))
	// Output:
	// hello, world
}

// Publish renames a staged file into place and stamps it in one metadata
// transaction, so readers never see it half published; with Check, only
// if the target is still what the caller saw.
func ExampleClient_Publish() {
	c, done := openExample()
	defer done()

	if err := c.WriteFile(".staging-1", []byte("v1"), 0o644); err != nil {
		log.Fatal(err)
	}
	if _, err := c.Publish(".staging-1", "object", shoal.PublishOptions{
		Xattr: "user.etag", Value: []byte("etag-1"), Check: true, // Expect nil: object must not exist
	}); err != nil {
		log.Fatal(err)
	}
	if err := c.WriteFile(".staging-2", []byte("v2"), 0o644); err != nil {
		log.Fatal(err)
	}
	_, err := c.Publish(".staging-2", "object", shoal.PublishOptions{Check: true})
	fmt.Println(err != nil)
	etag, _ := c.GetXattr("object", "user.etag")
	fmt.Println(string(etag))
	// Output:
	// true
	// etag-1
}

// AsIdentity is a view of a Client acting as another user, sharing its
// caches: permission checks apply to it (the S3 gateway makes one per
// request, for the user an access key maps to).
func ExampleClient_AsIdentity() {
	c, done := openExample()
	defer done()

	if err := c.WriteFile("private", []byte("secret"), 0o600); err != nil {
		log.Fatal(err)
	}
	alice := c.AsIdentity(1000, 1000)
	_, err := alice.ReadFile("private")
	fmt.Println(errors.Is(err, fs.ErrPermission))
	// Output:
	// true
}
