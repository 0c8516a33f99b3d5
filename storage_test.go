package shoal

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/shoalfs/shoal/internal/testserver/etcd"
	"github.com/shoalfs/shoal/internal/testserver/pg"
	"github.com/shoalfs/shoal/internal/testserver/versitygw"
)

// OpenLocal over every engine and store by URL: what it writes survives
// a close and reopen, the filesystem checks clean, and a second
// filesystem on the same engine and bucket stays apart.
func TestOpenLocalStorage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, PostgreSQL and versitygw")
	}
	gw := versitygw.Start(t, versitygw.Options{})
	gw.Bucket(t, "shoal")
	t.Setenv("AWS_ACCESS_KEY_ID", versitygw.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", versitygw.SecretKey)
	s3URL := "s3://shoal/%s?endpoint=" + gw.Endpoint
	etcdURL := "etcd://" + strings.TrimPrefix(etcd.Start(t)[0], "http://") + "/test"
	srv := pg.Start(t)
	for _, tc := range []struct {
		name, meta, store string
		noDir             bool // nothing local: no directory, no lock
	}{
		{"badger+s3", "", fmt.Sprintf(s3URL, "badger"), false},
		{"etcd+file", etcdURL, "", false},
		{"postgres+s3", srv.URL("") + "&table=openlocal", fmt.Sprintf(s3URL, "postgres"), false},
		{"etcd+s3 without a directory", etcdURL + "2", fmt.Sprintf(s3URL, "etcd"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := ""
			if !tc.noDir {
				dir = t.TempDir()
			}
			open := func(opts ...Option) *Client {
				t.Helper()
				c, err := OpenLocal(context.Background(), dir, append(opts, WithStorage(tc.meta, tc.store), WithGCInterval(0))...)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			data := bytes.Repeat([]byte("shoal"), 300_000) // more than one block
			c := open()
			if err := c.WriteFile("f", data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			c = open()
			defer c.Close()
			if got, err := c.ReadFile("f"); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("after reopen: %d bytes, %v", len(got), err)
			}
			if problems, err := c.Check(true); err != nil || len(problems) > 0 {
				t.Fatalf("check: %v %v", problems, err)
			}
			if err := c.Remove("f"); err != nil {
				t.Fatal(err)
			}
			if err := c.GC(); err != nil {
				t.Fatal(err)
			}
			if problems, err := c.Check(false); err != nil || len(problems) > 0 {
				t.Fatalf("check after remove and GC: %v %v", problems, err)
			}
		})
	}
}
