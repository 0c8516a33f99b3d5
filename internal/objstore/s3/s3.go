// Package s3 is the objstore.Store over any S3-compatible object store
// (AWS S3, MinIO, Ceph RGW, versitygw, SeaweedFS, Shoal's own gateway),
// through aws-sdk-go-v2.
//
// A Store keeps its objects under one bucket and an optional key prefix,
// so several filesystems (or other users) share a bucket. Objects are
// written with one PutObject each: Shoal's blocks are at most 4 MiB, so
// there is no multipart upload, and S3's PUT is atomic (readers see the
// old or the new object). A PutObject that returned is durable by S3's
// promise, so the store has no Sync.
//
// Addressing is path-style (endpoint/bucket/key) when an endpoint is
// given, as self-hosted servers expect, and virtual-hosted
// (bucket.endpoint/key) for AWS; Options.PathStyle overrides either way.
// Credentials come from Options, else from the SDK's usual chain: the
// environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN), then the shared credentials file
// (Options.CredentialsFile, else AWS_SHARED_CREDENTIALS_FILE or
// ~/.aws/credentials) with Options.Profile.
//
// Failures: throttling, 5xx answers and broken connections are retried
// by the SDK's standard retryer (exponential backoff with jitter, up to
// Options.MaxAttempts attempts). A missing object is ErrNotFound (kind
// NotExist); access denied is kind Permission; everything else kind IO.
// Cancellation passes through untouched.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/objstore"
)

// Options configures Open. Bucket is required; the zero value of every
// other field works.
type Options struct {
	// Bucket holds the objects.
	Bucket string
	// Prefix is prepended to every key ("" none; a missing trailing
	// slash is added).
	Prefix string
	// Endpoint is the server's base URL (http://host:port); "" is AWS.
	Endpoint string
	// Region signs requests (default us-east-1).
	Region string
	// PathStyle picks the addressing: nil means path-style exactly when
	// an Endpoint is given.
	PathStyle *bool
	// AccessKey and SecretKey (with SessionToken) are static
	// credentials; empty means the environment or the credentials file.
	AccessKey, SecretKey, SessionToken string
	// CredentialsFile and Profile pick the shared credentials file and
	// its section (defaults: the SDK's, then "default").
	CredentialsFile, Profile string
	// MaxAttempts bounds the attempts of one request, retries included
	// (default 5).
	MaxAttempts int
	// MaxBackoff caps the wait between attempts (default 5s).
	MaxBackoff time.Duration
	// Transport, when set, adjusts the HTTP transport after the store's
	// defaults (connection pooling sized for parallel block transfer):
	// a proxy, a dialer.
	Transport func(*http.Transport)
}

// Store is an S3-backed objstore.Store.
type Store struct {
	cli    *awss3.Client
	bucket string
	prefix string
}

var (
	_ objstore.Store     = (*Store)(nil)
	_ objstore.DirLister = (*Store)(nil)
)

// Open builds a store from o and resolves its credentials (which, with
// none in o, the environment or the file, asks the EC2 instance metadata
// service, as the SDK does); none found is an error of kind Permission.
// It sends no request to the store: a wrong bucket or a refused
// credential shows at the first operation (Check tests both at once).
func Open(ctx context.Context, o Options) (*Store, error) {
	const op = "objstore/s3.Open"
	if o.Bucket == "" {
		return nil, fserr.Errorf(op, fserr.Invalid, "objstore/s3: no bucket")
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	// The SDK's buildable client, not a plain http.Client: the SDK adds
	// $AWS_CA_BUNDLE to it.
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = 64
		if o.Transport != nil {
			o.Transport(tr)
		}
	})
	loads := []func(*config.LoadOptions) error{
		config.WithRegion(o.Region),
		config.WithHTTPClient(hc),
		// The SDK's own warnings (the metadata-service fallback) would go
		// to stderr; what matters reaches the caller as an error.
		config.WithLogger(logging.Nop{}),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = o.MaxAttempts
				so.MaxBackoff = o.MaxBackoff
				// The SDK's default retry quota stops retrying after a
				// burst of failures until successes refill it; a block
				// store would then fail writes in the very outage the
				// retries are for. MaxAttempts bounds each request.
				so.RateLimiter = ratelimit.None
			})
		}),
	}
	if o.AccessKey != "" {
		loads = append(loads, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(o.AccessKey, o.SecretKey, o.SessionToken)))
	}
	if o.CredentialsFile != "" {
		loads = append(loads, config.WithSharedCredentialsFiles([]string{o.CredentialsFile}))
	}
	if o.Profile != "" {
		loads = append(loads, config.WithSharedConfigProfile(o.Profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fserr.E(op, o.Bucket, fserr.Invalid, err)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fserr.Errorf(op, fserr.Permission, "objstore/s3: no credentials for bucket %q: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a shared credentials file (%v)", o.Bucket, err)
	}
	pathStyle := o.Endpoint != ""
	if o.PathStyle != nil {
		pathStyle = *o.PathStyle
	}
	cli := awss3.NewFromConfig(cfg, func(so *awss3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = pathStyle
		// Blocks carry their own CRC32C, checked on every read; asking
		// for the SDK's checksums only when the operation requires them
		// keeps older S3 implementations working.
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	prefix := o.Prefix
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &Store{cli: cli, bucket: o.Bucket, prefix: strings.TrimPrefix(prefix, "/")}, nil
}

// Client returns the SDK client, for callers that need more of S3 than a
// block store does (a dataset mount listing with delimiters).
func (s *Store) Client() *awss3.Client { return s.cli }

// Check asks the server whether the bucket exists and the credentials
// reach it.
func (s *Store) Check(ctx context.Context) error {
	const op = "objstore/s3.Check"
	_, err := s.cli.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &s.bucket})
	if err != nil {
		err = s.mapErr(ctx, op, s.bucket, err)
		if errors.Is(err, objstore.ErrNotFound) {
			return fserr.Errorf(op, fserr.NotExist, "objstore/s3: bucket %q does not exist", s.bucket)
		}
		return err
	}
	return nil
}

func checkKey(op, key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.ContainsRune(key, 0) {
		return fserr.Errorf(op, fserr.Invalid, "objstore/s3: invalid key %q: empty, absolute or contains NUL", key)
	}
	return nil
}

// Get reads length bytes of key from off (length < 0: to the end).
func (s *Store) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	const op = "objstore/s3.Get"
	if err := checkKey(op, key); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fserr.Errorf(op, fserr.Invalid, "objstore/s3: negative offset %d", off)
	}
	if length == 0 {
		// No byte range spells zero bytes; the object must still exist.
		if _, err := s.Head(ctx, key); err != nil {
			return nil, err
		}
		return []byte{}, nil
	}
	in := &awss3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)}
	switch {
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	case off > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	out, err := s.cli.GetObject(ctx, in)
	if err != nil {
		if in.Range != nil && isCode(err, "InvalidRange") {
			// The range starts at or past the end of an object that
			// exists (a missing one is NoSuchKey).
			return []byte{}, nil
		}
		return nil, s.mapErr(ctx, op, key, err)
	}
	defer out.Body.Close()
	size := int64(0)
	if out.ContentLength != nil {
		size = *out.ContentLength
	}
	buf := bytes.NewBuffer(make([]byte, 0, max(size, 0)))
	if _, err := io.Copy(buf, out.Body); err != nil {
		return nil, s.mapErr(ctx, op, key, err)
	}
	b := buf.Bytes()
	if out.ContentLength != nil && int64(len(b)) != size {
		return nil, fserr.Errorf(op, fserr.IO, "objstore/s3: %s: short read %d of %d bytes", key, len(b), size)
	}
	return b, nil
}

// Put stores data under key with one PutObject.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	const op = "objstore/s3.Put"
	if err := checkKey(op, key); err != nil {
		return err
	}
	// The SDK reads the body again on a retry: a bytes.Reader seeks
	// back, and the caller's slice is not kept past the call.
	_, err := s.cli.PutObject(ctx, &awss3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           aws.String(s.prefix + key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		return s.mapErr(ctx, op, key, err)
	}
	return nil
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	const op = "objstore/s3.Delete"
	if err := checkKey(op, key); err != nil {
		return err
	}
	_, err := s.cli.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
	if err != nil {
		if err := s.mapErr(ctx, op, key, err); !errors.Is(err, objstore.ErrNotFound) {
			return err
		}
	}
	return nil
}

// Head returns key's Info.
func (s *Store) Head(ctx context.Context, key string) (objstore.Info, error) {
	const op = "objstore/s3.Head"
	if err := checkKey(op, key); err != nil {
		return objstore.Info{}, err
	}
	out, err := s.cli.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
	if err != nil {
		return objstore.Info{}, s.mapErr(ctx, op, key, err)
	}
	info := objstore.Info{Key: key}
	if out.ContentLength != nil {
		info.Size = *out.ContentLength
	}
	if out.LastModified != nil {
		info.ModTime = *out.LastModified
	}
	info.ETag = etag(out.ETag)
	return info, nil
}

// List returns up to limit objects under prefix after `after`, in key
// order (S3 lists in UTF-8 binary order, which is byte order).
func (s *Store) List(ctx context.Context, prefix, after string, limit int) ([]objstore.Info, error) {
	const op = "objstore/s3.List"
	in := &awss3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + prefix)}
	if after != "" && after >= prefix {
		in.StartAfter = aws.String(s.prefix + after)
	}
	var out []objstore.Info
	for {
		if limit > 0 {
			in.MaxKeys = aws.Int32(int32(min(limit-len(out), 1000)))
		}
		page, err := s.cli.ListObjectsV2(ctx, in)
		if err != nil {
			return nil, s.mapErr(ctx, op, prefix, err)
		}
		for _, o := range page.Contents {
			k := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
			if after != "" && k <= after {
				continue // a server that ignores StartAfter
			}
			info := objstore.Info{Key: k, Size: aws.ToInt64(o.Size), ETag: etag(o.ETag)}
			if o.LastModified != nil {
				info.ModTime = *o.LastModified
			}
			out = append(out, info)
			if limit > 0 && len(out) >= limit {
				return out, nil
			}
		}
		if !aws.ToBool(page.IsTruncated) || page.NextContinuationToken == nil {
			return out, nil
		}
		in.ContinuationToken = page.NextContinuationToken
		in.StartAfter = nil
	}
}

// etag is S3's ETag without its quotes.
func etag(p *string) string { return strings.Trim(aws.ToString(p), `"`) }

// ListDir lists one level under prefix with one ListObjectsV2 (Delimiter
// "/"); cont is S3's continuation token.
func (s *Store) ListDir(ctx context.Context, prefix, cont string, limit int) (objstore.DirPage, error) {
	const op = "objstore/s3.ListDir"
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		return objstore.DirPage{}, fserr.Errorf(op, fserr.Invalid, "objstore/s3: ListDir prefix %q does not end in /", prefix)
	}
	if limit <= 0 || limit > objstore.DefaultDirLimit {
		limit = objstore.DefaultDirLimit
	}
	in := &awss3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + prefix),
		Delimiter: aws.String("/"), MaxKeys: aws.Int32(int32(limit))}
	if cont != "" {
		in.ContinuationToken = aws.String(cont)
	}
	out, err := s.cli.ListObjectsV2(ctx, in)
	if err != nil {
		return objstore.DirPage{}, s.mapErr(ctx, op, prefix, err)
	}
	var page objstore.DirPage
	for _, o := range out.Contents {
		k := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
		if k == prefix {
			continue // a "directory marker" object some tools write
		}
		info := objstore.Info{Key: k, Size: aws.ToInt64(o.Size), ETag: etag(o.ETag)}
		if o.LastModified != nil {
			info.ModTime = *o.LastModified
		}
		page.Objects = append(page.Objects, info)
	}
	for _, cp := range out.CommonPrefixes {
		page.Prefixes = append(page.Prefixes, strings.TrimPrefix(aws.ToString(cp.Prefix), s.prefix))
	}
	if aws.ToBool(out.IsTruncated) && out.NextContinuationToken != nil {
		page.Next = *out.NextContinuationToken
	}
	return page, nil
}

// Close releases the store. Idle connections close on their own (the
// transport's idle timeout): the SDK may have rebuilt the client, so the
// store holds no handle on them.
func (s *Store) Close() error {
	return nil
}

func isCode(err error, codes ...string) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.ErrorCode() == c {
			return true
		}
	}
	return false
}

// mapErr classifies an SDK error.
func (s *Store) mapErr(ctx context.Context, op, key string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	switch {
	case errors.As(err, &nsk), errors.As(err, &nf), isCode(err, "NoSuchKey", "NotFound"):
		return fserr.E(op, key, fserr.NotExist, objstore.ErrNotFound)
	case isCode(err, "NoSuchBucket"):
		return fserr.Errorf(op, fserr.IO, "objstore/s3: bucket %q does not exist: %w", s.bucket, err)
	case isCode(err, "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden"):
		return fserr.E(op, key, fserr.Permission, err)
	}
	return fserr.E(op, key, fserr.IO, err)
}
