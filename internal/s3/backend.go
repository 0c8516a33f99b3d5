package s3

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/shoalfs/shoal/internal/s3/checksum"
)

// Identity is who a request acts as: the owner of the access key that
// signed it, mapped to a POSIX identity so the backend applies permission
// bits. Anonymous requests carry AnonymousIdentity.
type Identity struct {
	AccessKey string // "" for anonymous
	Uid, Gid  uint32
	Gids      []uint32
}

// AnonymousIdentity is the identity of unauthenticated requests (nobody).
var AnonymousIdentity = Identity{Uid: 65534, Gid: 65534}

// Anonymous reports whether the identity is the unauthenticated one.
func (id Identity) Anonymous() bool { return id.AccessKey == "" }

// BucketInfo describes a bucket.
type BucketInfo struct {
	Name    string
	Created time.Time
	Owner   uint32 // uid of the bucket's owner
}

// Tag is one object or bucket tag.
type Tag struct{ Key, Value string }

// ObjectMeta is what a writer sets on an object and a reader gets back.
type ObjectMeta struct {
	ContentType        string
	ContentEncoding    string
	ContentDisposition string
	ContentLanguage    string
	CacheControl       string
	Expires            string
	User               map[string]string // x-amz-meta-* without the prefix, lower-case names
	Tags               []Tag
	// Upload settings, kept by CreateMultipart only (ignored by other
	// writes) and returned by Upload: the checksum the upload's object
	// gets (its algorithm and ChecksumFullObject or ChecksumComposite;
	// see MultipartChecksum) and the object lock it gets at completion
	// (nil: none asked for).
	ChecksumAlgorithm checksum.Algorithm
	ChecksumType      string
	Lock              *ObjectLock
	// ACL is the object's grants beyond its owner's FULL_CONTROL, kept
	// with the version (every write stores the grants it is given).
	ACL []Grant
}

// Grant is one ACL grant: Permission (READ, WRITE, READ_ACP, WRITE_ACP,
// FULL_CONTROL) to a canonical user, ID (Shoal's canonical id: the
// decimal uid), or to a group, URI (S3's AllUsers or AuthenticatedUsers).
type Grant struct {
	ID         string `json:"id,omitempty"`
	URI        string `json:"uri,omitempty"`
	Permission string `json:"p"`
}

// The two kinds of checksum of a multipart object.
const (
	ChecksumComposite  = "COMPOSITE"
	ChecksumFullObject = "FULL_OBJECT"
)

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key          string
	Size         int64
	ETag         string // without quotes: hex MD5, or hex md5-of-md5s + "-N"
	LastModified time.Time
	Meta         ObjectMeta
	// Checksum is the x-amz-checksum-* value verified at upload, if any.
	ChecksumAlgorithm checksum.Algorithm
	Checksum          string
	// PartSizes are the sizes of the parts of a multipart object in order,
	// empty for a single-part object (partNumber GETs and x-amz-mp-parts-count).
	PartSizes []int64
	// UploadID is the multipart upload that made the object, if any: a
	// repeated CompleteMultipartUpload of it answers as the first did.
	UploadID string
	// VersionID is the object's version ("" is the null version);
	// DeleteMarker says the version is a delete marker; IsLatest is set
	// in version listings.
	VersionID    string
	DeleteMarker bool
	IsLatest     bool
	// Lock is the version's object lock (retention and legal hold).
	Lock ObjectLock
}

// ObjectLock is one version's object lock: a retention (Mode
// "GOVERNANCE" or "COMPLIANCE" until RetainUntil; Mode "" for none) and
// a legal hold ("ON", "OFF", or "" when never set).
type ObjectLock struct {
	Mode        string
	RetainUntil time.Time
	LegalHold   string
}

// Retained reports whether the retention forbids deleting the version at now.
func (l ObjectLock) Retained(now time.Time) bool {
	return l.Mode != "" && l.RetainUntil.After(now)
}

// Object is an open object. Body reads the object as it was when opened;
// Close releases it.
type Object struct {
	Info ObjectInfo
	Body interface {
		io.ReaderAt
		io.ReadSeeker
		io.Closer
	}
}

// Digest is what the gateway computes while a body streams through it.
type Digest struct {
	MD5               string // hex
	ChecksumAlgorithm checksum.Algorithm
	Checksum          string
}

// PutInput is an object (or part) body with its attributes.
type PutInput struct {
	// Body yields exactly Size bytes (any number up to 5 GiB when Size is
	// -1: a chunked Transfer-Encoding without Content-Length). A Read error other than io.EOF
	// (including a failed signature or checksum at the end) means the
	// write must leave nothing behind.
	Body io.Reader
	Size int64
	Meta ObjectMeta
	// Digest is valid once Body has returned io.EOF: the gateway hashes the
	// bytes as they pass. Backends store it (ETag, checksum) at commit.
	Digest func() Digest
}

// WriteCond is a conditional write, checked atomically with the commit.
type WriteCond struct {
	IfNoneMatchStar bool   // fail with ErrPreconditionFailed if the key exists
	IfMatch         string // fail unless the key exists with this ETag (ErrNoSuchKey if absent)
	// IfNoneMatch lists ETags (unquoted): fail with ErrPreconditionFailed
	// if the key exists with one of them.
	IfNoneMatch []string
}

// Conditional reports whether c checks anything.
func (c WriteCond) Conditional() bool {
	return c.IfNoneMatchStar || c.IfMatch != "" || len(c.IfNoneMatch) > 0
}

// Check applies c to the current object (nil when the key is absent):
// ErrPreconditionFailed, or ErrNoSuchKey for If-Match on a missing key.
func (c WriteCond) Check(cur *ObjectInfo) error {
	if cur == nil {
		if c.IfMatch != "" {
			return ErrNoSuchKey
		}
		return nil
	}
	if c.IfNoneMatchStar || c.IfMatch != "" && c.IfMatch != cur.ETag {
		return ErrPreconditionFailed
	}
	for _, e := range c.IfNoneMatch {
		if e == cur.ETag {
			return ErrPreconditionFailed
		}
	}
	return nil
}

// CopyInput describes a CopyObject.
type CopyInput struct {
	SrcBucket, SrcKey string
	// SrcETag, when set, makes the copy fail with ErrPreconditionFailed if
	// the source changed since the gateway checked its conditions.
	SrcETag string
	// Meta replaces the metadata when non-nil (REPLACE directive); nil copies it.
	Meta *ObjectMeta
	// Tags replaces the tags when non-nil (REPLACE tagging directive).
	Tags []Tag
	// ReplaceTags says Tags applies even when empty.
	ReplaceTags bool
	// SrcVersionID copies that version of the source ("" the latest,
	// NullVersion the null one); only a Versioner accepts one.
	SrcVersionID string
	Cond         WriteCond
	// ACL is the copy's grants: S3 never copies an object's ACL, a copy
	// gets those of the request (none: private).
	ACL []Grant
}

// ListInput selects one page of a listing.
type ListInput struct {
	Prefix     string
	Delimiter  string
	StartAfter string // exclusive; see Backend.List
	Max        int    // 1..1000
}

// ListPage is one page of a listing.
type ListPage struct {
	Objects        []ObjectInfo
	CommonPrefixes []string
	Truncated      bool
	// Next is the last entry returned (a key or a common prefix): passing
	// it as StartAfter continues the listing.
	Next string
}

// PartInfo describes an uploaded part.
type PartInfo struct {
	Number       int
	Size         int64
	ETag         string // without quotes
	LastModified time.Time
	Checksum     string
	// ChecksumAlgorithm is Checksum's algorithm.
	ChecksumAlgorithm checksum.Algorithm
}

// MultipartChecksum is the checksum of a multipart object made of parts
// (in order) when every part carried a checksum of algorithm alg (else
// none): with typ ChecksumFullObject, the CRC of the whole object,
// combined from the parts' CRCs and sizes; else the composite, alg over
// the parts' binary checksums, base64, then "-N". alg "" takes the
// first part's algorithm (an upload created without one).
func MultipartChecksum(parts []PartInfo, alg checksum.Algorithm, typ string) (checksum.Algorithm, string) {
	if len(parts) == 0 {
		return "", ""
	}
	if alg == "" {
		alg = parts[0].ChecksumAlgorithm
	}
	if alg == "" {
		return "", ""
	}
	full := typ == ChecksumFullObject
	if full && !alg.Combinable() {
		return "", ""
	}
	h := alg.New()
	var whole []byte
	for i, p := range parts {
		b, err := base64.StdEncoding.DecodeString(p.Checksum)
		if p.ChecksumAlgorithm != alg || p.Checksum == "" || err != nil {
			return "", ""
		}
		switch {
		case !full:
			h.Write(b)
		case i == 0:
			whole = b
		default:
			var ok bool
			if whole, ok = alg.Combine(whole, b, p.Size); !ok {
				return "", ""
			}
		}
	}
	if full {
		return alg, checksum.Encode(whole)
	}
	return alg, checksum.Encode(h.Sum(nil)) + "-" + strconv.Itoa(len(parts))
}

// CompletePart is one entry of a CompleteMultipartUpload request.
type CompletePart struct {
	Number int
	ETag   string // without quotes
}

// UploadInfo describes an in-progress multipart upload.
type UploadInfo struct {
	Key       string
	UploadID  string
	Initiated time.Time
	// Meta is what CreateMultipart was given (Upload returns it; listings
	// need not).
	Meta ObjectMeta
}

// ListUploadsInput selects a page of ListMultipartUploads.
type ListUploadsInput struct {
	Prefix         string
	KeyMarker      string
	UploadIDMarker string
	Max            int
}

// Backend is the storage the gateway serves. It is defined here, by its
// consumer; the Shoal adapter maps it onto the namespace (buckets are
// top-level directories, keys are paths) and mem implements it in memory.
//
// Every method receives the caller's Identity and must apply its
// permissions. Errors are *fserr.Error; the S3 meaning of a failure is
// carried by wrapping one of the sentinel errors below (errors.Is), or
// else derived from the fserr Kind (NotExist → NoSuchKey, Permission →
// AccessDenied, ...). Keys reaching the backend have been validated
// (ValidKey): no empty, "." or ".." segment except a trailing '/', at most
// 1024 bytes, segments at most 255 bytes.
//
// Guarantees a backend must give:
//   - Writes (PutObject, PutPart, Complete, Copy) are atomic: readers see
//     the old object or the new one, and a write whose body fails leaves
//     nothing behind. A key that conflicts with a directory ("a" while
//     "a/b" exists, or "a/b" while object "a" exists) fails with
//     ErrKeyConflict and changes nothing.
//   - Multipart staging is invisible to List, Head and Get.
//   - List walks keys in ascending raw-byte order without reading the whole
//     bucket: it returns the first Max entries after StartAfter. A
//     filesystem backend scanning directories in order must sort a
//     directory "d" as "d/" (so "a-b" precedes the keys under "a/").
type Backend interface {
	ListBuckets(ctx context.Context, id Identity) ([]BucketInfo, error)
	CreateBucket(ctx context.Context, id Identity, bucket string) error
	HeadBucket(ctx context.Context, id Identity, bucket string) (BucketInfo, error)
	// DeleteBucket fails with ErrBucketNotEmpty if any object (or upload) remains.
	DeleteBucket(ctx context.Context, id Identity, bucket string) error
	// BucketPublic reports whether anonymous reads of the bucket are allowed.
	// Only buckets explicitly marked public return true.
	BucketPublic(ctx context.Context, bucket string) (bool, error)
	// BucketTags returns the bucket's tags (nil when none); PutBucketTags
	// replaces them (nil deletes).
	BucketTags(ctx context.Context, id Identity, bucket string) ([]Tag, error)
	PutBucketTags(ctx context.Context, id Identity, bucket string, tags []Tag) error
	// BucketOwner returns the uid owning the bucket, read as the service
	// (a policy check needs it before any identity is settled).
	BucketOwner(ctx context.Context, bucket string) (uint32, error)
	// BucketACL returns the bucket's access as one of S3's canned ACLs
	// (CannedACLs); PutBucketACL sets it, acting as id (the owner may).
	// Objects follow their bucket's ACL.
	BucketACL(ctx context.Context, id Identity, bucket string) (string, error)
	PutBucketACL(ctx context.Context, id Identity, bucket, canned string) error
	// BucketConfig returns a bucket's stored sub-resource configuration
	// by name ("cors", ...), nil when none is set. It reads as the
	// service, not as a requester: the gateway needs it before it knows
	// one (a CORS preflight is anonymous) and checks access itself.
	BucketConfig(ctx context.Context, bucket, name string) ([]byte, error)
	// PutBucketConfig stores a configuration (nil deletes it) acting as
	// id, whose permissions decide (the bucket's owner may).
	PutBucketConfig(ctx context.Context, id Identity, bucket, name string, value []byte) error

	PutObject(ctx context.Context, id Identity, bucket, key string, in PutInput, cond WriteCond) (ObjectInfo, error)
	HeadObject(ctx context.Context, id Identity, bucket, key string) (ObjectInfo, error)
	GetObject(ctx context.Context, id Identity, bucket, key string) (*Object, error)
	// DeleteObject succeeds when the key does not exist (S3 semantics).
	DeleteObject(ctx context.Context, id Identity, bucket, key string) error
	// CopyObject copies by sharing the source's data, never by reading it
	// through the gateway. The result keeps the source's ETag and checksum.
	CopyObject(ctx context.Context, id Identity, bucket, key string, in CopyInput) (ObjectInfo, error)
	// PutObjectTags replaces an object's tags (nil deletes them).
	PutObjectTags(ctx context.Context, id Identity, bucket, key string, tags []Tag) error

	// List returns, in ascending raw-byte order of keys, the first Max
	// entries with Prefix that sort after StartAfter. With a Delimiter,
	// keys containing it after the prefix fold into one common prefix
	// (prefix + up to and including the delimiter), which counts as one
	// entry and sorts at its own string; when StartAfter equals a common
	// prefix the whole prefix is skipped. Truncated reports more entries.
	List(ctx context.Context, id Identity, bucket string, in ListInput) (ListPage, error)

	CreateMultipart(ctx context.Context, id Identity, bucket, key string, meta ObjectMeta) (uploadID string, err error)
	// PutPart stores (or replaces) part n (1..10000) of an upload.
	PutPart(ctx context.Context, id Identity, bucket, key, uploadID string, n int, in PutInput) (PartInfo, error)
	// CopyPart makes part n from a byte range of an existing object,
	// sharing its data. srcETag as in CopyInput.
	CopyPart(ctx context.Context, id Identity, bucket, key, uploadID string, n int, srcBucket, srcKey, srcETag string, off, length int64) (PartInfo, error)
	// Upload describes upload uploadID of key, with the Meta it was
	// created with (ErrNoSuchUpload when there is none).
	Upload(ctx context.Context, id Identity, bucket, key, uploadID string) (UploadInfo, error)
	// ListParts returns the parts numbered above marker, ascending, up to max.
	ListParts(ctx context.Context, id Identity, bucket, key, uploadID string, marker, max int) (parts []PartInfo, truncated bool, err error)
	// CompleteMultipart links the listed parts, in order, into the object
	// without copying data, stores etag and meta, and removes the upload.
	// A listed part that is missing or has another ETag is ErrInvalidPart.
	// The object's checksum is MultipartChecksum of the listed parts
	// with the upload's checksum algorithm and type.
	CompleteMultipart(ctx context.Context, id Identity, bucket, key, uploadID string, parts []CompletePart, etag string, cond WriteCond) (ObjectInfo, error)
	AbortMultipart(ctx context.Context, id Identity, bucket, key, uploadID string) error
	// ListUploads returns uploads ordered by (key, upload id) after the markers.
	ListUploads(ctx context.Context, id Identity, bucket string, in ListUploadsInput) (uploads []UploadInfo, truncated bool, err error)
}

// ListVersionsInput selects one page of ListObjectVersions.
type ListVersionsInput struct {
	Prefix, Delimiter string
	// KeyMarker and VersionIDMarker: the page starts after that version
	// of that key; with no VersionIDMarker, after every version of it.
	KeyMarker, VersionIDMarker string
	Max                        int // 1..1000
}

// VersionsPage is one page of ListObjectVersions: versions and delete
// markers by key, newest first within a key, and the common prefixes.
type VersionsPage struct {
	Versions       []ObjectInfo
	CommonPrefixes []string
	Truncated      bool
	// NextKeyMarker and NextVersionIDMarker continue a truncated page.
	NextKeyMarker, NextVersionIDMarker string
}

// Versioner is the optional capability of a Backend that keeps object
// versions (found by type assertion). Without it, buckets cannot be
// versioned and every object is the null version. With it, the backend
// reads a bucket's versioning state ("Enabled", "Suspended", or none)
// from its "versioning" BucketConfig on every write, and PutObject,
// CopyObject and CompleteMultipart keep the replaced version and return
// the new one's VersionID.
type Versioner interface {
	// HeadVersion describes version vid of key (NullVersion for the null
	// one, "" for the latest, which may be a delete marker).
	HeadVersion(ctx context.Context, id Identity, bucket, key, vid string) (ObjectInfo, error)
	// GetVersion opens version vid ("" the latest object) of key; a
	// delete marker has an empty Body.
	GetVersion(ctx context.Context, id Identity, bucket, key, vid string) (*Object, error)
	// DeleteVersion removes version vid of key; vid "" is S3's delete
	// without a version id (a delete marker on a versioned bucket, a
	// plain delete otherwise). It returns the version removed or the
	// marker made (zero when nothing was there). When vid names a
	// version, allow (if not nil) is called with it under the key's lock
	// before it is removed, and an error it returns refuses the delete:
	// object lock is enforced atomically with the removal.
	DeleteVersion(ctx context.Context, id Identity, bucket, key, vid string, allow func(ObjectInfo) error) (ObjectInfo, error)
	ListVersions(ctx context.Context, id Identity, bucket string, in ListVersionsInput) (VersionsPage, error)
	// PutVersionTags replaces the tags of version vid ("" the latest) of
	// key (nil deletes them); the bucket's owner may.
	PutVersionTags(ctx context.Context, id Identity, bucket, key, vid string, tags []Tag) (ObjectInfo, error)
	// CopyPartVersion is CopyPart from version srcVID ("" the latest,
	// NullVersion the null one) of the source.
	CopyPartVersion(ctx context.Context, id Identity, bucket, key, uploadID string, n int, srcBucket, srcKey, srcVID, srcETag string, off, length int64) (PartInfo, error)
}

// Locker is the optional capability of a Versioner that keeps each
// version's ObjectLock (found by type assertion); the gateway serves
// object lock only over one. PutVersionLock replaces the lock of version
// vid ("" the latest) of key with what change returns for the version as
// it is, under the key's lock; an error from change refuses the change.
// The bucket's owner may; the gateway applies S3's retention rules in
// change. A version's lock is read through HeadVersion (ObjectInfo.Lock).
type Locker interface {
	PutVersionLock(ctx context.Context, id Identity, bucket, key, vid string, change func(cur ObjectInfo) (ObjectLock, error)) (ObjectInfo, error)
}

// ACLKeeper is the optional capability of a Backend that keeps each
// object's grants (ObjectMeta.ACL, found by type assertion); without it
// objects have no grants of their own. PutObjectACL replaces the grants
// of version vid ("" the latest) of key; the bucket's owner may.
type ACLKeeper interface {
	PutObjectACL(ctx context.Context, id Identity, bucket, key, vid string, grants []Grant) (ObjectInfo, error)
}

// The canned ACLs a bucket can have: private to its owner (the
// default), readable by every key (authenticated-read), also by
// anonymous requests (public-read), and writable by every key too
// (public-read-write; anonymous requests still only read).
const (
	ACLPrivate           = "private"
	ACLPublicRead        = "public-read"
	ACLPublicReadWrite   = "public-read-write"
	ACLAuthenticatedRead = "authenticated-read"
)

// Sentinel causes a backend wraps (fserr.E(op, path, kind, ErrX)) so the
// gateway answers with the precise S3 error.
var (
	ErrNoSuchBucket       = errors.New("s3: no such bucket")
	ErrNoSuchKey          = errors.New("s3: no such key")
	ErrNoSuchUpload       = errors.New("s3: no such upload")
	ErrBucketExists       = errors.New("s3: bucket already exists")
	ErrBucketNotEmpty     = errors.New("s3: bucket not empty")
	ErrInvalidPart        = errors.New("s3: invalid part")
	ErrPreconditionFailed = errors.New("s3: precondition failed")
	ErrKeyConflict        = errors.New("s3: key conflicts with a directory or a file on its path")
	ErrNoSuchVersion      = errors.New("s3: no such version")
)
