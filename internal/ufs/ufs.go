// Package ufs owns what a dataset mount needs beyond its record in the
// engine (internal/meta's mounts.go): opening the store a mount names,
// and the ring key of a page of a mounted object.
//
// It sits above meta (it reads meta.Mount) and beside the data layer,
// not inside meta, because opening a store means network I/O and the
// SDK, the server and later the workers and the lazy-metadata loader all
// need the same answer; meta itself never performs I/O on a store.
//
// Invariants:
//   - OpenStore opens a file:// mount's directory as it is: it must
//     exist, and nothing in it is created or removed (objstore/file's
//     Existing option).
//   - An s3:// mount's credentials come from its CredentialsFile or the
//     environment of this process, never from the record.
//   - PageRingKey is a pure function of its arguments (the Python SDK
//     will compute it too); a new ETag gives every page a new key.
package ufs

import (
	"context"
	"strconv"
	"strings"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/objstore/file"
	"github.com/shoalfs/shoal/internal/objstore/s3"
)

// Store is what a mount's store offers: the object store and its
// one-level listing.
type Store interface {
	objstore.Store
	objstore.DirLister
}

// OpenStore opens the store m names (m.URL with its S3 options).
func OpenStore(ctx context.Context, m meta.Mount) (Store, error) {
	const op = "ufs.OpenStore"
	scheme, rest, err := meta.ParseMountURL(m.URL)
	if err != nil {
		return nil, err
	}
	switch scheme {
	case "file":
		st, err := file.Open(rest, file.Options{Existing: true})
		if err != nil {
			return nil, fserr.E(op, m.URL, err)
		}
		return st, nil
	case "s3":
		bucket, prefix, _ := strings.Cut(rest, "/")
		o := s3.Options{Bucket: bucket, Prefix: prefix, Endpoint: m.Endpoint, Region: m.Region,
			CredentialsFile: m.CredentialsFile}
		if m.PathStyle {
			t := true
			o.PathStyle = &t
		}
		st, err := s3.Open(ctx, o)
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	return nil, fserr.Errorf(op, fserr.Invalid, "ufs: mount URL %q: unknown scheme", m.URL)
}

// PageRingKey is the key under which page `page` of version etag of
// object key of the mount rooted at mount is placed on the worker ring:
// "ufs/<mount>/<page>/<etag>/<key>". Pages of one object spread over the
// workers; a changed object (new ETag) has all-new keys.
func PageRingKey(mount meta.Ino, key, etag string, page int64) string {
	var b strings.Builder
	b.Grow(len(key) + len(etag) + 32)
	b.WriteString("ufs/")
	b.WriteString(strconv.FormatUint(uint64(mount), 10))
	b.WriteByte('/')
	b.WriteString(strconv.FormatInt(page, 10))
	b.WriteByte('/')
	b.WriteString(etag)
	b.WriteByte('/')
	b.WriteString(key)
	return b.String()
}
