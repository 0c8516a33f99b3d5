package storage

import (
	"context"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shoalfs/shoal/internal/datadir"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/objstore/s3"
)

// Blocks is an open block store URL: it opens the store of each
// filesystem (by registry id) beneath it.
type Blocks struct {
	// URL names the store without secrets.
	URL string
	// Scheme is "file" or "s3".
	Scheme string
	// Shared reports whether other processes may use the store at the
	// same time (S3).
	Shared bool

	open   func(ctx context.Context, id uint32) (objstore.Store, error)
	remove func(ctx context.Context, id uint32) error
}

// Open opens filesystem id's store; the caller closes it.
func (b *Blocks) Open(ctx context.Context, id uint32) (objstore.Store, error) { return b.open(ctx, id) }

// Remove deletes every block of filesystem id (its store must be closed
// in this process).
func (b *Blocks) Remove(ctx context.Context, id uint32) error { return b.remove(ctx, id) }

// Close releases what the URL holds beyond the per-filesystem stores
// (nothing today).
func (b *Blocks) Close() error { return nil }

// OpenBlocks checks the block store URL and reaches the store:
//
//	file:///abs/dir  file://rel/dir
//	s3://bucket[/prefix][?endpoint=URL&region=R&path_style=true|false&profile=P&credentials_file=F&max_attempts=N]
//
// Filesystem id's blocks are dir/<id>/ (with its small blocks in
// dir/<id>.kv/, see internal/datadir) or prefix/<id>/. S3 credentials come
// from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or the
// shared credentials file, never from the URL. An S3 bucket that does not
// exist, or credentials it refuses, fail here, not at the first write.
func OpenBlocks(ctx context.Context, rawURL string, logger *slog.Logger) (*Blocks, error) {
	const op = "storage.OpenBlocks"
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, fserr.Errorf(op, fserr.Invalid, "storage: store %q: want a URL (file:///DIR or s3://BUCKET/PREFIX?endpoint=URL)", rawURL)
	}
	switch scheme {
	case "file":
		path, query, _ := strings.Cut(rest, "?")
		if path == "" || query != "" {
			return nil, fserr.Errorf(op, fserr.Invalid, "storage: store %q: want file:///DIR", rawURL)
		}
		root := absPath(path)
		return &Blocks{
			URL:    "file://" + root,
			Scheme: "file",
			open: func(_ context.Context, id uint32) (objstore.Store, error) {
				return datadir.OpenBlocksAt(root, id, logger)
			},
			remove: func(_ context.Context, id uint32) error { return datadir.RemoveBlocksAt(root, id) },
		}, nil
	case "s3":
		return bounded(ctx, redactS3(rawURL), func(ctx context.Context) (*Blocks, error) { return openS3(ctx, rawURL) })
	}
	return nil, fserr.Errorf(op, fserr.Invalid, "storage: store %q: unknown scheme %q (want file or s3)", rawURL, scheme)
}

// S3Options parses an s3:// URL into the store's options (Prefix is the
// URL's path, without a filesystem id).
func S3Options(rawURL string) (s3.Options, error) {
	const op = "storage.S3Options"
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return s3.Options{}, fserr.Errorf(op, fserr.Invalid, "storage: store %q: want s3://BUCKET[/PREFIX][?endpoint=URL&region=R]", rawURL)
	}
	if u.User != nil {
		return s3.Options{}, fserr.Errorf(op, fserr.Invalid, "storage: store s3://%s: credentials do not go in the URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or credentials_file=FILE", u.Host)
	}
	q := u.Query()
	if err := onlyParams(op, "s3://"+u.Host+u.Path, q, "endpoint", "region", "path_style", "profile", "credentials_file", "max_attempts", "max_backoff"); err != nil {
		return s3.Options{}, err
	}
	o := s3.Options{
		Bucket:          u.Host,
		Prefix:          strings.TrimPrefix(u.Path, "/"),
		Endpoint:        q.Get("endpoint"),
		Region:          q.Get("region"),
		Profile:         q.Get("profile"),
		CredentialsFile: q.Get("credentials_file"),
	}
	if v := q.Get("path_style"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s3.Options{}, fserr.Errorf(op, fserr.Invalid, "storage: store s3://%s: path_style=%q is not a boolean", u.Host, v)
		}
		o.PathStyle = &b
	}
	if v := q.Get("max_attempts"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return s3.Options{}, fserr.Errorf(op, fserr.Invalid, "storage: store s3://%s: max_attempts=%q: want a positive integer", u.Host, v)
		}
		o.MaxAttempts = n
	}
	if v := q.Get("max_backoff"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s3.Options{}, fserr.Errorf(op, fserr.Invalid, "storage: store s3://%s: max_backoff=%q: want a duration", u.Host, v)
		}
		o.MaxBackoff = d
	}
	if o.Endpoint != "" {
		if e, err := url.Parse(o.Endpoint); err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return s3.Options{}, fserr.Errorf(op, fserr.Invalid, "storage: store s3://%s: endpoint=%q: want http(s)://HOST[:PORT]", u.Host, o.Endpoint)
		}
	}
	return o, nil
}

func openS3(ctx context.Context, rawURL string) (*Blocks, error) {
	const op = "storage.OpenBlocks"
	base, err := S3Options(rawURL)
	if err != nil {
		return nil, err
	}
	// One store at the URL's own prefix checks the bucket and the
	// credentials now; the filesystems' stores are beneath it.
	root, err := s3.Open(ctx, base)
	if err != nil {
		return nil, err
	}
	if err := root.Check(ctx); err != nil {
		return nil, fserr.E(op, "s3://"+base.Bucket, err)
	}
	sub := func(id uint32) s3.Options {
		o := base
		o.Prefix = strings.TrimSuffix(base.Prefix, "/")
		if o.Prefix != "" {
			o.Prefix += "/"
		}
		o.Prefix += strconv.FormatUint(uint64(id), 10) + "/"
		return o
	}
	return &Blocks{
		URL:    redactS3(rawURL),
		Scheme: "s3",
		Shared: true,
		open: func(ctx context.Context, id uint32) (objstore.Store, error) {
			return s3.Open(ctx, sub(id))
		},
		remove: func(ctx context.Context, id uint32) error {
			st, err := s3.Open(ctx, sub(id))
			if err != nil {
				return err
			}
			defer st.Close()
			for {
				objs, err := st.List(ctx, "", "", 1000)
				if err != nil || len(objs) == 0 {
					return err
				}
				for _, o := range objs {
					if err := st.Delete(ctx, o.Key); err != nil {
						return err
					}
				}
			}
		},
	}, nil
}

// redactS3 keeps the parameters that say where the blocks are.
func redactS3(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "s3://?"
	}
	q := u.Query()
	shown := url.Values{}
	for _, k := range []string{"endpoint", "region", "path_style", "profile"} {
		if v := q.Get(k); v != "" {
			shown.Set(k, v)
		}
	}
	u.RawQuery = readableQuery(shown)
	u.User = nil
	return u.String()
}

// readableQuery encodes q leaving the ':' and '/' of embedded URLs as
// they are, for people to read.
func readableQuery(q url.Values) string {
	return strings.NewReplacer("%3A", ":", "%2F", "/").Replace(q.Encode())
}
