// Package shoalfs is the s3.Backend over a Shoal filesystem (a
// shoal.Client, in-process or dialled): buckets are top-level
// directories, object keys are paths under them, so objects written over
// S3 are files any SDK or FUSE user reads, and files written there are
// objects.
//
// Mapping:
//   - An object's S3 attributes (ETag, content type/encoding/disposition/
//     language, cache control, expires, user metadata, tags, checksum, part
//     sizes) are one JSON xattr, user.s3.object, on the file: one read per
//     HEAD, and listings fetch it with the entries in one call (meta's
//     ReadDirByNameXattr). It records the size and mtime it describes; a
//     file changed since through the filesystem (or written there and never
//     through S3) gets an ETag made from its inode, size and mtime instead
//     of a stale one. The user.* namespace lets the gateway act with the
//     requester's own identity, so POSIX permissions decide every request.
//   - A key ending in "/" is a directory carrying user.s3.object (a
//     directory marker object); a directory without it is no object.
//   - A bucket's settings (creation time, public flag, tags) are the JSON
//     xattr user.s3.bucket on its directory. Only buckets whose flag says
//     public are readable anonymously. Its other configurations (CORS,
//     versioning, policy, public access block, ownership controls) are one
//     xattr each, user.s3.conf.<name>. Its canned ACL is its directory's
//     mode (0700 private by default, 0755 readable, 0777 writable).
//   - Versions: the latest is the file at the key; older ones and delete
//     markers are files under /.shoal-s3/versions/<bucket>/ (versions.go).
//   - A file written outside S3 has an ETag with a "-1" suffix until a GET
//     that reads it whole computes and keeps its MD5 (md5Body).
//   - Staging lives in /.shoal-s3, outside every bucket (no bucket name
//     starts with '.'), so no listing of a bucket shows it:
//     /.shoal-s3/tmp/ holds uploads in flight (PutObject, CopyObject write
//     a hidden file, then shoal.Client.Publish sets its xattr and renames
//     it into place in one metadata transaction: readers see the old
//     object or the new one, never one without its metadata),
//     /.shoal-s3/uploads/<bucket>/<id>/
//     holds a multipart upload (xattr user.s3.upload: key, initiation time,
//     metadata) and its parts part-00001... A background job removes
//     uploads and temporary files older than Options.UploadTTL.
//   - Copies share blocks (shoal.Client.CloneFile, CopyFileRange), and
//     CompleteMultipartUpload links the parts into a staged file
//     (ConcatFiles) renamed into place: no data passes through the gateway.
//   - Conflicts: a key whose path crosses a file ("a/b" with object "a")
//     or names a directory ("a" with "a/b") fails with s3.ErrKeyConflict,
//     and the directories a failed write created are removed again.
//     Deleting an object removes the directories it leaves empty (up to
//     the bucket, stopping at a directory marker), as S3 has no empty
//     prefixes.
//   - Listing walks directories in key order (see list.go) and reads only
//     what a page needs.
//
// Conditional writes (If-None-Match: *, If-Match) are checked under a
// per-key lock of this process, and checked again inside the publishing
// transaction (the target must still be absent, or the same inode with
// the same ctime), so two gateways racing on one key cannot both win.
// Over a metadata service without Publish (the RPC client, for now) the
// gateway falls back to SetXattr then Rename, atomic only against other
// requests to this gateway.
package shoalfs

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/maphash"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/s3"
	"github.com/shoalfs/shoal/internal/s3/checksum"
)

// Names of the xattrs and the staging directories.
const (
	XattrObject = "user.s3.object"
	XattrBucket = "user.s3.bucket"
	XattrUpload = "user.s3.upload"
	StagingDir  = "/" + shoal.ReservedPrefix + "s3"
	tmpDir      = StagingDir + "/tmp"
	uploadsDir  = StagingDir + "/uploads"
)

// Options configures a Backend. The zero value is valid.
type Options struct {
	// UploadTTL is the age after which an unfinished multipart upload (or
	// a temporary file left by a crashed write) is removed; 0 means 7
	// days, negative never.
	UploadTTL time.Duration
	// CleanInterval is how often the cleaner runs; 0 means an hour.
	CleanInterval time.Duration
	// Logger receives failures of background work; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o *Options) ensureDefaults() {
	if o.UploadTTL == 0 {
		o.UploadTTL = 7 * 24 * time.Hour
	}
	if o.CleanInterval <= 0 {
		o.CleanInterval = time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Backend serves S3 over a shoal.Client.
type Backend struct {
	c    *shoal.Client // acts as the client's own identity (normally root) for housekeeping
	opts Options
	seed maphash.Seed
	keys [256]sync.Mutex // per-key commit locks, by hash

	stagingMu sync.Mutex
	stagingOK bool

	stop context.CancelFunc
	wg   sync.WaitGroup
}

var _ s3.Backend = (*Backend)(nil)

// New returns a Backend over c and starts the cleaner of abandoned
// uploads. The staging directories are made on the first write that needs
// them (c must be allowed to: normally it acts as root), so a filesystem
// never written through S3 shows no trace of it. Close stops the
// cleaner; c stays the caller's.
func New(ctx context.Context, c *shoal.Client, opts Options) (*Backend, error) {
	opts.ensureDefaults()
	// The staging area is a reserved root entry (shoal.ReservedPrefix),
	// hidden from every other view of the filesystem.
	b := &Backend{c: c.WithInternalNames(), opts: opts, seed: maphash.MakeSeed()}
	cctx, cancel := context.WithCancel(context.Background())
	b.stop = cancel
	if opts.UploadTTL > 0 {
		b.wg.Go(func() { b.cleanLoop(cctx) })
	}
	return b, nil
}

// Close stops the background cleaner.
func (b *Backend) Close() error {
	b.stop()
	b.wg.Wait()
	return nil
}

// staging makes the staging directories, once.
func (b *Backend) staging(ctx context.Context) error {
	const op = "shoalfs.staging"
	b.stagingMu.Lock()
	defer b.stagingMu.Unlock()
	if b.stagingOK {
		return nil
	}
	cc := b.c.WithContext(ctx)
	for _, d := range []string{StagingDir, tmpDir, uploadsDir} {
		if err := cc.Mkdir(d, 0o777); err != nil && !errors.Is(err, fs.ErrExist) {
			return fserr.E(op, d, err)
		}
		// Sticky and world-writable, like /tmp: every identity stages its
		// own files there and cannot touch another's.
		if err := cc.Chmod(d, 0o777|fs.ModeSticky); err != nil {
			return fserr.E(op, d, err)
		}
	}
	b.stagingOK = true
	return nil
}

// as is the client acting for id under ctx.
func (b *Backend) as(ctx context.Context, id s3.Identity) *shoal.Client {
	return b.c.AsIdentity(id.Uid, id.Gid, id.Gids...).WithContext(ctx)
}

func (b *Backend) lockKey(bucket, key string) func() {
	m := &b.keys[maphash.String(b.seed, bucket+"/"+key)%uint64(len(b.keys))]
	m.Lock()
	return m.Unlock
}

func noBucket(op, name string) error { return fserr.E(op, name, fserr.NotExist, s3.ErrNoSuchBucket) }
func noKey(op, key string) error     { return fserr.E(op, key, fserr.NotExist, s3.ErrNoSuchKey) }
func noUpload(op, id string) error   { return fserr.E(op, id, fserr.NotExist, s3.ErrNoSuchUpload) }
func conflict(op, key string, err error) error {
	return fserr.E(op, key, fserr.KindOf(err), s3.ErrKeyConflict)
}

func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// checkKey repeats the gateway's key rules, so a caller other than the
// gateway cannot reach outside the bucket ("..") either.
func checkKey(op, key string) error {
	if !s3.ValidKey(key) {
		if len(key) > s3.MaxKeyLen {
			return fserr.E(op, key, fserr.NameTooLong)
		}
		return fserr.E(op, key, fserr.Invalid)
	}
	return nil
}

func bucketPath(bucket string) string { return "/" + bucket }

func objPath(bucket, key string) string { return "/" + bucket + "/" + strings.TrimSuffix(key, "/") }

// objectMeta is the user.s3.object xattr.
type objectMeta struct {
	ETag         string            `json:"etag"`
	Size         int64             `json:"size"`
	Mtime        int64             `json:"mtime"` // ns; with Size, tells whether the file changed since
	Type         string            `json:"type,omitempty"`
	Encoding     string            `json:"encoding,omitempty"`
	Disposition  string            `json:"disposition,omitempty"`
	Language     string            `json:"language,omitempty"`
	Cache        string            `json:"cache,omitempty"`
	Expires      string            `json:"expires,omitempty"`
	User         map[string]string `json:"user,omitempty"`
	Tags         []s3.Tag          `json:"tags,omitempty"`
	ACL          []s3.Grant        `json:"acl,omitempty"`
	ChecksumAlg  string            `json:"ckalg,omitempty"`
	Checksum     string            `json:"ck,omitempty"`
	PartSizes    []int64           `json:"parts,omitempty"`
	UploadID     string            `json:"upload,omitempty"` // the multipart upload that made the object
	VersionID    string            `json:"vid,omitempty"`    // "" is the null version
	DeleteMarker bool              `json:"dm,omitempty"`     // a stored delete marker
	// Object lock of the version: retention mode and until when (ns),
	// legal hold ("ON", "OFF"; "" never set).
	LockMode    string `json:"lmode,omitempty"`
	RetainUntil int64  `json:"luntil,omitempty"`
	LegalHold   string `json:"lhold,omitempty"`
}

func (m *objectMeta) lock() s3.ObjectLock {
	l := s3.ObjectLock{Mode: m.LockMode, LegalHold: m.LegalHold}
	if m.RetainUntil != 0 {
		l.RetainUntil = time.Unix(0, m.RetainUntil).UTC()
	}
	return l
}

func (m *objectMeta) setLock(l s3.ObjectLock) {
	m.LockMode, m.LegalHold, m.RetainUntil = l.Mode, l.LegalHold, 0
	if l.Mode != "" {
		m.RetainUntil = l.RetainUntil.UnixNano()
	}
}

// versionMeta is what a stored version of the object cur records.
func versionMeta(cur s3.ObjectInfo) objectMeta {
	m := metaFrom(cur.Meta)
	m.ETag, m.ChecksumAlg, m.Checksum, m.PartSizes, m.VersionID = cur.ETag, string(cur.ChecksumAlgorithm), cur.Checksum, cur.PartSizes, cur.VersionID
	m.setLock(cur.Lock)
	return m
}

func metaFrom(m s3.ObjectMeta) objectMeta {
	return objectMeta{
		Type: m.ContentType, Encoding: m.ContentEncoding, Disposition: m.ContentDisposition,
		Language: m.ContentLanguage, Cache: m.CacheControl, Expires: m.Expires, User: m.User, Tags: m.Tags, ACL: m.ACL,
	}
}

func (m *objectMeta) s3Meta() s3.ObjectMeta {
	return s3.ObjectMeta{
		ContentType: m.Type, ContentEncoding: m.Encoding, ContentDisposition: m.Disposition,
		ContentLanguage: m.Language, CacheControl: m.Cache, Expires: m.Expires, User: m.User, Tags: m.Tags, ACL: m.ACL,
	}
}

// info builds an object's description from its attributes and xattr.
func info(key string, a *shoal.Attr, raw []byte) s3.ObjectInfo {
	oi := s3.ObjectInfo{Key: key, Size: a.Size, LastModified: a.Mtime}
	if a.Mode.IsDir() {
		oi.Size = 0
	}
	var m objectMeta
	if len(raw) > 0 && json.Unmarshal(raw, &m) == nil {
		oi.Meta = m.s3Meta()
		oi.VersionID = m.VersionID
		// The lock stays with the version even if the file changed
		// through the filesystem (which object lock does not govern).
		oi.Lock = m.lock()
		if a.Mode.IsDir() || m.Size == a.Size && m.Mtime == a.Mtime.UnixNano() {
			oi.ETag = m.ETag
			oi.ChecksumAlgorithm = checksum.Algorithm(m.ChecksumAlg)
			oi.Checksum = m.Checksum
			oi.PartSizes = m.PartSizes
			oi.UploadID = m.UploadID
			return oi
		}
	}
	// Written or changed through the filesystem: an ETag that changes
	// whenever the file does, without reading it. The "-1" tells clients
	// it is no MD5 of the content (as a multipart ETag is not), so they
	// do not check the bytes against it; the first full GET computes the
	// MD5 and keeps it (md5Body).
	sum := md5.Sum(fmt.Appendf(nil, "%d/%d/%d", a.Ino, a.Size, a.Mtime.UnixNano()))
	oi.ETag = hex.EncodeToString(sum[:]) + derivedSuffix
	return oi
}

const derivedSuffix = "-1"

// derived reports whether oi's ETag is made from the file's attributes,
// not its content.
func derived(oi s3.ObjectInfo) bool {
	return len(oi.PartSizes) == 0 && strings.HasSuffix(oi.ETag, derivedSuffix)
}

// md5Body hashes an object as the gateway reads it, and when every byte
// has passed in order, stores the MD5 as the object's ETag: S3 access
// pays for the MD5 of a file written through the filesystem once, and
// only by reading it anyway.
type md5Body struct {
	*shoal.File
	h          hash.Hash
	next, size int64
	off        bool // bytes skipped: no MD5 this time
	finish     func(sum string)
}

func (m *md5Body) ReadAt(p []byte, off int64) (int, error) {
	n, err := m.File.ReadAt(p, off)
	switch {
	case m.off || off < m.next:
	case off > m.next:
		m.off = true
	default:
		m.h.Write(p[:n])
		m.next += int64(n)
		if m.next == m.size {
			m.off = true
			m.finish(hex.EncodeToString(m.h.Sum(nil)))
		}
	}
	return n, err
}

// keepMD5 records sum as the ETag of the file at key if it is still the
// one a describes; under the key's lock, so no S3 write is clobbered.
func (b *Backend) keepMD5(ctx context.Context, bucket, key string, a shoal.Attr, sum string) {
	unlock := b.lockKey(bucket, key)
	defer unlock()
	root := b.c.WithContext(ctx)
	p := objPath(bucket, key)
	na, err := stat(root, p)
	if err != nil || na.Ino != a.Ino || na.Size != a.Size || !na.Mtime.Equal(a.Mtime) {
		return
	}
	var m objectMeta
	if raw, err := root.GetXattr(p, XattrObject); err == nil {
		json.Unmarshal(raw, &m)
	}
	m.ETag, m.ChecksumAlg, m.Checksum, m.PartSizes = sum, "", "", nil
	m.Size, m.Mtime = a.Size, a.Mtime.UnixNano()
	raw, _ := json.Marshal(m)
	if err := root.SetXattr(p, XattrObject, raw, 0); err != nil {
		b.opts.Logger.Debug("shoalfs: keeping a computed MD5", "bucket", bucket, "key", key, "err", err)
	}
}

// stat returns a path's attributes (Stat takes io/fs names: no leading '/').
func stat(c *shoal.Client, p string) (shoal.Attr, error) {
	fi, err := c.Stat(strings.TrimPrefix(p, "/"))
	if err != nil {
		return shoal.Attr{}, err
	}
	return *fi.Sys().(*shoal.Attr), nil
}

// lookup returns the object at key, or NoSuchKey.
func (b *Backend) lookup(op string, c *shoal.Client, bucket, key string) (shoal.Attr, s3.ObjectInfo, error) {
	if err := checkKey(op, key); err != nil {
		return shoal.Attr{}, s3.ObjectInfo{}, err
	}
	a, err := stat(c, objPath(bucket, key))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || fserr.Is(fserr.NotDir, err) {
			if _, berr := stat(c, bucketPath(bucket)); berr != nil && errors.Is(berr, fs.ErrNotExist) {
				return a, s3.ObjectInfo{}, noBucket(op, bucket)
			}
			return a, s3.ObjectInfo{}, noKey(op, key)
		}
		return a, s3.ObjectInfo{}, fserr.E(op, key, err)
	}
	dirKey := strings.HasSuffix(key, "/")
	if a.Mode.IsDir() != dirKey || !a.Mode.IsDir() && !a.Mode.IsRegular() {
		return a, s3.ObjectInfo{}, noKey(op, key)
	}
	raw, err := c.GetXattr(objPath(bucket, key), XattrObject)
	if err != nil && !fserr.Is(fserr.NoData, err) {
		return a, s3.ObjectInfo{}, fserr.E(op, key, err)
	}
	if dirKey && raw == nil {
		return a, s3.ObjectInfo{}, noKey(op, key)
	}
	return a, info(key, &a, raw), nil
}

// ---- buckets

type bucketMeta struct {
	Created int64    `json:"created"` // ns
	Public  bool     `json:"public,omitempty"`
	Tags    []s3.Tag `json:"tags,omitempty"`
}

func (b *Backend) bucketMeta(op string, c *shoal.Client, bucket string) (shoal.Attr, bucketMeta, error) {
	var m bucketMeta
	if !s3.ValidBucket(bucket) {
		return shoal.Attr{}, m, noBucket(op, bucket)
	}
	a, err := stat(c, bucketPath(bucket))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return a, m, noBucket(op, bucket)
		}
		return a, m, fserr.E(op, bucket, err)
	}
	if !a.Mode.IsDir() {
		return a, m, noBucket(op, bucket)
	}
	raw, err := c.GetXattr(bucketPath(bucket), XattrBucket)
	switch {
	case err == nil:
		if json.Unmarshal(raw, &m) != nil {
			m = bucketMeta{}
		}
	case fserr.Is(fserr.NoData, err), errors.Is(err, fs.ErrPermission):
	default:
		return a, m, fserr.E(op, bucket, err)
	}
	if m.Created == 0 {
		m.Created = a.Mtime.UnixNano()
	}
	return a, m, nil
}

func (b *Backend) putBucketMeta(op string, c *shoal.Client, bucket string, m bucketMeta) error {
	raw, _ := json.Marshal(m)
	if err := c.SetXattr(bucketPath(bucket), XattrBucket, raw, 0); err != nil {
		return fserr.E(op, bucket, err)
	}
	return nil
}

func (b *Backend) ListBuckets(ctx context.Context, id s3.Identity) ([]s3.BucketInfo, error) {
	const op = "shoalfs.ListBuckets"
	c := b.as(ctx, id)
	var out []s3.BucketInfo
	after := ""
	for {
		ents, err := c.ListNames("/", after, 1000, XattrBucket)
		if err != nil {
			return nil, fserr.E(op, err)
		}
		for _, e := range ents {
			if !e.Attr.Mode.IsDir() || !s3.ValidBucket(e.Name) {
				continue
			}
			created := e.Attr.Mtime
			var m bucketMeta
			if e.Xattr != nil && json.Unmarshal(e.Xattr, &m) == nil && m.Created != 0 {
				created = time.Unix(0, m.Created)
			}
			out = append(out, s3.BucketInfo{Name: e.Name, Created: created, Owner: e.Attr.Uid})
		}
		if len(ents) < 1000 {
			return out, nil
		}
		after = ents[len(ents)-1].Name
	}
}

func (b *Backend) CreateBucket(ctx context.Context, id s3.Identity, bucket string) error {
	const op = "shoalfs.CreateBucket"
	if !s3.ValidBucket(bucket) {
		return fserr.E(op, bucket, fserr.Invalid)
	}
	c := b.as(ctx, id)
	// Private to its owner, as an S3 bucket is by default (PutBucketACL
	// opens it).
	if err := c.Mkdir(bucketPath(bucket), 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fserr.E(op, bucket, fserr.Exist, s3.ErrBucketExists)
		}
		return fserr.E(op, bucket, err)
	}
	return b.putBucketMeta(op, c, bucket, bucketMeta{Created: b.opts.Now().UnixNano()})
}

func (b *Backend) HeadBucket(ctx context.Context, id s3.Identity, bucket string) (s3.BucketInfo, error) {
	c := b.as(ctx, id)
	a, m, err := b.bucketMeta("shoalfs.HeadBucket", c, bucket)
	if err != nil {
		return s3.BucketInfo{}, err
	}
	// S3 answers HEAD of a bucket one may not list with 403.
	if err := b.canRead("shoalfs.HeadBucket", c, bucket); err != nil {
		return s3.BucketInfo{}, err
	}
	return s3.BucketInfo{Name: bucket, Created: time.Unix(0, m.Created), Owner: a.Uid}, nil
}

func (b *Backend) DeleteBucket(ctx context.Context, id s3.Identity, bucket string) error {
	const op = "shoalfs.DeleteBucket"
	c := b.as(ctx, id)
	if _, _, err := b.bucketMeta(op, c, bucket); err != nil {
		return err
	}
	// Uploads in progress do not keep a bucket (S3 drops them with it):
	// the directory goes first, failing while objects remain, then the
	// bucket's staging, so a failed delete loses no upload.
	up := path.Join(uploadsDir, bucket)
	// Older versions keep a bucket, as in S3 (they are objects too).
	vdir := path.Join(versionsDir, bucket)
	if ents, err := b.c.WithContext(ctx).ListNames(vdir, "", 1, ""); err == nil && len(ents) > 0 {
		return fserr.E(op, bucket, fserr.NotEmpty, s3.ErrBucketNotEmpty)
	}
	if err := c.Remove(bucketPath(bucket)); err != nil {
		if fserr.Is(fserr.NotEmpty, err) || fserr.Is(fserr.Exist, err) {
			return fserr.E(op, bucket, fserr.NotEmpty, s3.ErrBucketNotEmpty)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return noBucket(op, bucket)
		}
		return fserr.E(op, bucket, err)
	}
	b.c.WithContext(ctx).Remove(vdir)
	if err := b.c.WithContext(ctx).RemoveAll(up); err != nil && !errors.Is(err, fs.ErrNotExist) {
		b.opts.Logger.Warn("shoalfs: removing the uploads of a deleted bucket", "bucket", bucket, "err", err)
	}
	return nil
}

// SetPublic marks a bucket readable (or not) by anonymous requests. It
// acts as the Backend's client (normally root).
func (b *Backend) SetPublic(ctx context.Context, bucket string, public bool) error {
	const op = "shoalfs.SetPublic"
	c := b.c.WithContext(ctx)
	_, m, err := b.bucketMeta(op, c, bucket)
	if err != nil {
		return err
	}
	m.Public = public
	if err := b.putBucketMeta(op, c, bucket, m); err != nil {
		return err
	}
	// Anonymous requests act as nobody: a public bucket's directory must
	// let them in. Making it private again leaves the mode as it is.
	if public {
		a, err := stat(c, bucketPath(bucket))
		if err == nil {
			err = c.Chmod(bucketPath(bucket), a.Mode.Perm()|0o055)
		}
		if err != nil {
			return fserr.E(op, bucket, err)
		}
	}
	return nil
}

// bucketModes maps the canned ACLs onto the bucket directory's mode.
var bucketModes = map[string]fs.FileMode{
	s3.ACLPrivate: 0o700, s3.ACLAuthenticatedRead: 0o755, s3.ACLPublicRead: 0o755, s3.ACLPublicReadWrite: 0o777,
}

func (b *Backend) BucketOwner(ctx context.Context, bucket string) (uint32, error) {
	a, _, err := b.bucketMeta("shoalfs.BucketOwner", b.c.WithContext(ctx), bucket)
	return a.Uid, err
}

func (b *Backend) BucketACL(ctx context.Context, id s3.Identity, bucket string) (string, error) {
	a, m, err := b.bucketMeta("shoalfs.BucketACL", b.as(ctx, id), bucket)
	if err != nil {
		return "", err
	}
	switch perm := a.Mode.Perm(); {
	case perm&0o002 != 0:
		return s3.ACLPublicReadWrite, nil
	case perm&0o004 != 0 && m.Public:
		return s3.ACLPublicRead, nil
	case perm&0o004 != 0:
		return s3.ACLAuthenticatedRead, nil
	}
	return s3.ACLPrivate, nil
}

func (b *Backend) PutBucketACL(ctx context.Context, id s3.Identity, bucket, canned string) error {
	const op = "shoalfs.PutBucketACL"
	mode, ok := bucketModes[canned]
	if !ok {
		return fserr.E(op, canned, fserr.Invalid)
	}
	c := b.as(ctx, id)
	unlock := b.lockKey(bucket, "")
	defer unlock()
	_, m, err := b.bucketMeta(op, c, bucket)
	if err != nil {
		return err
	}
	if pub := canned == s3.ACLPublicRead || canned == s3.ACLPublicReadWrite; pub != m.Public {
		m.Public = pub
		if err := b.putBucketMeta(op, c, bucket, m); err != nil {
			return err
		}
	}
	if err := c.Chmod(bucketPath(bucket), mode); err != nil {
		return fserr.E(op, bucket, err)
	}
	return nil
}

func (b *Backend) BucketPublic(ctx context.Context, bucket string) (bool, error) {
	_, m, err := b.bucketMeta("shoalfs.BucketPublic", b.c.WithContext(ctx), bucket)
	return m.Public, err
}

func (b *Backend) BucketTags(ctx context.Context, id s3.Identity, bucket string) ([]s3.Tag, error) {
	_, m, err := b.bucketMeta("shoalfs.BucketTags", b.as(ctx, id), bucket)
	return m.Tags, err
}

func (b *Backend) PutBucketTags(ctx context.Context, id s3.Identity, bucket string, tags []s3.Tag) error {
	const op = "shoalfs.PutBucketTags"
	c := b.as(ctx, id)
	unlock := b.lockKey(bucket, "")
	defer unlock()
	_, m, err := b.bucketMeta(op, c, bucket)
	if err != nil {
		return err
	}
	m.Tags = append([]s3.Tag(nil), tags...)
	return b.putBucketMeta(op, c, bucket, m)
}

// XattrConfigPrefix names a bucket's sub-resource configurations
// (user.s3.conf.cors, ...), one xattr each on the bucket's directory.
const XattrConfigPrefix = "user.s3.conf."

func (b *Backend) BucketConfig(ctx context.Context, bucket, name string) ([]byte, error) {
	const op = "shoalfs.BucketConfig"
	if !s3.ValidBucket(bucket) {
		return nil, noBucket(op, bucket)
	}
	// One xattr read (every request to a bucket reads its policy).
	raw, err := b.c.WithContext(ctx).GetXattr(bucketPath(bucket), XattrConfigPrefix+name)
	switch {
	case err == nil:
		return raw, nil
	case fserr.Is(fserr.NoData, err):
		return nil, nil
	case errors.Is(err, fs.ErrNotExist), fserr.Is(fserr.NotDir, err):
		return nil, noBucket(op, bucket)
	}
	return nil, fserr.E(op, bucket, err)
}

func (b *Backend) PutBucketConfig(ctx context.Context, id s3.Identity, bucket, name string, value []byte) error {
	const op = "shoalfs.PutBucketConfig"
	c := b.as(ctx, id)
	if err := b.bucketExists(op, c, bucket); err != nil {
		return err
	}
	var err error
	if value == nil {
		if err = c.RemoveXattr(bucketPath(bucket), XattrConfigPrefix+name); fserr.Is(fserr.NoData, err) {
			err = nil
		}
	} else {
		err = c.SetXattr(bucketPath(bucket), XattrConfigPrefix+name, value, 0)
	}
	if err != nil {
		return fserr.E(op, bucket, err)
	}
	return nil
}

// ---- objects

// stage writes body into a new hidden file and returns its path and size.
func (b *Backend) stage(op string, c *shoal.Client, dir, key string, in s3.PutInput) (string, int64, error) {
	tmp := path.Join(dir, "tmp-"+randomID())
	f, err := c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", 0, fserr.E(op, key, err)
	}
	n, err := io.Copy(f, in.Body)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fserr.E(op, key, cerr)
	}
	if err == nil && in.Size >= 0 && n != in.Size {
		err = fserr.Errorf(op, fserr.Invalid, "shoalfs: body is %d bytes, want %d", n, in.Size)
	}
	if err != nil {
		c.Remove(tmp)
		var fe *fserr.Error
		if !errors.As(err, &fe) {
			err = fserr.E(op, key, fserr.Invalid, err) // a body that failed its checks
		}
		return "", 0, err
	}
	return tmp, n, nil
}

// seal stores m on the staged file, stamped with its size and mtime.
func seal(op string, c *shoal.Client, tmp, key string, m objectMeta) (shoal.Attr, objectMeta, error) {
	a, err := stat(c, tmp)
	if err != nil {
		return a, m, fserr.E(op, key, err)
	}
	m.Size, m.Mtime = a.Size, a.Mtime.UnixNano()
	raw, _ := json.Marshal(m)
	if err := c.SetXattr(tmp, XattrObject, raw, 0); err != nil {
		return a, m, fserr.E(op, key, err)
	}
	return a, m, nil
}

func checkCond(op string, cur *s3.ObjectInfo, key string, cond s3.WriteCond) error {
	switch err := cond.Check(cur); err {
	case nil:
		return nil
	case s3.ErrNoSuchKey:
		return noKey(op, key)
	default:
		return fserr.E(op, key, fserr.Exist, err)
	}
}

// publish moves the staged file tmp to key with m (stamped by the caller
// with the size and mtime the file is to have) as its xattr, creating the
// directories on its path, after checking cond: one metadata transaction
// (shoal.Client.Publish) when the service offers it, so a reader never
// sees the object without its metadata and the condition holds at the
// rename. On failure it removes tmp and the directories it created.
func (b *Backend) publish(ctx context.Context, op string, c *shoal.Client, bucket, key, tmp string, cond s3.WriteCond, m objectMeta) (a shoal.Attr, raw []byte, err error) {
	defer func() {
		if err != nil {
			c.Remove(tmp)
		}
	}()
	unlock := b.lockKey(bucket, key)
	defer unlock()
	cur, err := b.condHolds(op, c, bucket, key, cond)
	if err != nil {
		return a, nil, err
	}
	// On a versioned bucket the version replaced is kept first.
	vid, undo, commit, err := b.keepLatest(ctx, op, c, bucket, key)
	if err != nil {
		return a, nil, err
	}
	defer func() {
		if err != nil {
			undo()
		} else {
			commit()
		}
	}()
	m.VersionID = vid
	raw, _ = json.Marshal(m)
	po := shoal.PublishOptions{Mtime: time.Unix(0, m.Mtime), Xattr: XattrObject, Value: raw}
	if cond.Conditional() {
		po.Check, po.Expect = true, cur
	}
	dst := objPath(bucket, key)
	for try := 0; ; try++ {
		var made []string
		if try > 0 {
			// The first try assumes the directories exist (the common
			// case of a key under a used prefix): no Mkdir attempts.
			if made, err = b.mkdirs(op, c, bucket, key); err != nil {
				return a, nil, err
			}
		}
		a, err = c.Publish(tmp, dst, po)
		if err == nil {
			return a, raw, nil
		}
		b.rmdirs(c, made)
		switch {
		case fserr.Is(fserr.NotSupported, err):
			return b.sealCommit(op, c, bucket, key, tmp, m)
		case errors.Is(err, shoal.ErrTargetChanged):
			return a, nil, fserr.E(op, key, fserr.Exist, s3.ErrPreconditionFailed)
		case errors.Is(err, fs.ErrNotExist) && try < 3:
			// Missing directories, or a delete removed one we made: again.
			continue
		case fserr.Is(fserr.IsDir, err), fserr.Is(fserr.NotDir, err), fserr.Is(fserr.NotEmpty, err), fserr.Is(fserr.Exist, err):
			return a, nil, conflict(op, key, err)
		}
		return a, nil, fserr.E(op, key, err)
	}
}

// sealCommit is publish over a service without Publish: set the xattr,
// then rename. The caller holds the key's lock and checked cond.
func (b *Backend) sealCommit(op string, c *shoal.Client, bucket, key, tmp string, m objectMeta) (shoal.Attr, []byte, error) {
	a, m, err := seal(op, c, tmp, key, m)
	if err != nil {
		return a, nil, err
	}
	if err := b.renameInto(op, c, bucket, key, tmp); err != nil {
		return a, nil, err
	}
	raw, _ := json.Marshal(m)
	return a, raw, nil
}

// renameInto renames tmp to key, creating the directories on its path.
func (b *Backend) renameInto(op string, c *shoal.Client, bucket, key, tmp string) error {
	dst := objPath(bucket, key)
	for try := 0; ; try++ {
		made, err := b.mkdirs(op, c, bucket, key)
		if err != nil {
			return err
		}
		err = c.Rename(tmp, dst)
		if err == nil {
			return nil
		}
		b.rmdirs(c, made)
		switch {
		case errors.Is(err, fs.ErrNotExist) && try < 3:
			// A delete removed a directory we made, meanwhile: again.
			continue
		case fserr.Is(fserr.IsDir, err), fserr.Is(fserr.NotDir, err), fserr.Is(fserr.NotEmpty, err), fserr.Is(fserr.Exist, err):
			return conflict(op, key, err)
		}
		return fserr.E(op, key, err)
	}
}

// condHolds checks cond against the object at key and returns the
// attributes of that object (nil if there is none).
func (b *Backend) condHolds(op string, c *shoal.Client, bucket, key string, cond s3.WriteCond) (*shoal.Attr, error) {
	if !cond.Conditional() {
		return nil, nil
	}
	var cur *s3.ObjectInfo
	a, oi, err := b.lookup(op, c, bucket, key)
	switch {
	case err == nil:
		cur = &oi
	case errors.Is(err, s3.ErrNoSuchKey):
	default:
		return nil, err
	}
	if err := checkCond(op, cur, key, cond); err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, nil
	}
	return &a, nil
}

// mkdirs creates the directories on key's path below the bucket and
// returns those it made, deepest last. A file in the way is a conflict.
func (b *Backend) mkdirs(op string, c *shoal.Client, bucket, key string) ([]string, error) {
	segs := strings.Split(strings.TrimSuffix(key, "/"), "/")
	var made []string
	p := bucketPath(bucket)
	for _, s := range segs[:len(segs)-1] {
		p += "/" + s
		err := c.Mkdir(p, 0o755)
		switch {
		case err == nil:
			made = append(made, p)
		case errors.Is(err, fs.ErrExist):
			a, serr := stat(c, p)
			if serr == nil && !a.Mode.IsDir() {
				b.rmdirs(c, made)
				return nil, conflict(op, key, fserr.E(op, p, fserr.NotDir))
			}
		case fserr.Is(fserr.NotDir, err):
			b.rmdirs(c, made)
			return nil, conflict(op, key, err)
		case errors.Is(err, fs.ErrNotExist) && p == bucketPath(bucket)+"/"+segs[0]:
			return nil, noBucket(op, bucket)
		default:
			b.rmdirs(c, made)
			return nil, fserr.E(op, key, err)
		}
	}
	return made, nil
}

// rmdirs removes directories (deepest last in dirs) that are still empty.
func (b *Backend) rmdirs(c *shoal.Client, dirs []string) {
	for i := len(dirs) - 1; i >= 0; i-- {
		if c.Remove(dirs[i]) != nil {
			return
		}
	}
}

// prune removes the directories above key that are empty and no
// directory marker, up to the bucket.
func (b *Backend) prune(c *shoal.Client, bucket, key string) {
	p := objPath(bucket, key)
	for {
		p = path.Dir(p)
		if p == bucketPath(bucket) || p == "/" {
			return
		}
		if _, err := c.GetXattr(p, XattrObject); err == nil {
			return
		}
		if c.Remove(p) != nil {
			return
		}
	}
}

func (b *Backend) PutObject(ctx context.Context, id s3.Identity, bucket, key string, in s3.PutInput, cond s3.WriteCond) (s3.ObjectInfo, error) {
	const op = "shoalfs.PutObject"
	if err := checkKey(op, key); err != nil {
		return s3.ObjectInfo{}, err
	}
	c := b.as(ctx, id)
	if err := b.bucketExists(op, c, bucket); err != nil {
		return s3.ObjectInfo{}, err
	}
	if strings.HasSuffix(key, "/") {
		return b.putMarker(op, c, bucket, key, in, cond)
	}
	if err := b.staging(ctx); err != nil {
		return s3.ObjectInfo{}, err
	}
	tmp, size, err := b.stage(op, c, tmpDir, key, in)
	if err != nil {
		return s3.ObjectInfo{}, err
	}
	d := in.Digest()
	m := metaFrom(in.Meta)
	m.ETag, m.ChecksumAlg, m.Checksum = d.MD5, string(d.ChecksumAlgorithm), d.Checksum
	// The file's size is the body's (stage checked it) and its mtime is
	// set here, so the metadata is stamped without reading the file back.
	m.Size, m.Mtime = size, b.opts.Now().UnixNano()
	a, raw, err := b.publish(ctx, op, c, bucket, key, tmp, cond, m)
	if err != nil {
		return s3.ObjectInfo{}, err
	}
	return info(key, &a, raw), nil
}

// bucketExists is bucketMeta without reading the bucket's settings.
func (b *Backend) bucketExists(op string, c *shoal.Client, bucket string) error {
	if !s3.ValidBucket(bucket) {
		return noBucket(op, bucket)
	}
	a, err := stat(c, bucketPath(bucket))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return noBucket(op, bucket)
	case err != nil:
		return fserr.E(op, bucket, err)
	case !a.Mode.IsDir():
		return noBucket(op, bucket)
	}
	return nil
}

// putMarker makes a directory marker object ("a/b/").
func (b *Backend) putMarker(op string, c *shoal.Client, bucket, key string, in s3.PutInput, cond s3.WriteCond) (s3.ObjectInfo, error) {
	n, err := io.Copy(io.Discard, in.Body)
	if err != nil {
		return s3.ObjectInfo{}, fserr.E(op, key, fserr.Invalid, err)
	}
	if n != 0 {
		return s3.ObjectInfo{}, fserr.Errorf(op, fserr.Invalid, "shoalfs: %q names a directory: it cannot hold data", key)
	}
	d := in.Digest()
	unlock := b.lockKey(bucket, key)
	defer unlock()
	if _, err := b.condHolds(op, c, bucket, key, cond); err != nil {
		return s3.ObjectInfo{}, err
	}
	made, err := b.mkdirs(op, c, bucket, key+"x")
	if err != nil {
		return s3.ObjectInfo{}, err
	}
	p := objPath(bucket, key)
	if err := c.Mkdir(p, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		b.rmdirs(c, made)
		return s3.ObjectInfo{}, fserr.E(op, key, err)
	}
	a, err := stat(c, p)
	if err != nil || !a.Mode.IsDir() {
		b.rmdirs(c, made)
		if err == nil {
			err = conflict(op, key, fserr.E(op, key, fserr.NotDir))
		}
		return s3.ObjectInfo{}, err
	}
	m := metaFrom(in.Meta)
	m.ETag, m.ChecksumAlg, m.Checksum = d.MD5, string(d.ChecksumAlgorithm), d.Checksum
	raw, _ := json.Marshal(m)
	if err := c.SetXattr(p, XattrObject, raw, 0); err != nil {
		return s3.ObjectInfo{}, fserr.E(op, key, err)
	}
	return info(key, &a, raw), nil
}

func (b *Backend) HeadObject(ctx context.Context, id s3.Identity, bucket, key string) (s3.ObjectInfo, error) {
	_, oi, err := b.lookup("shoalfs.HeadObject", b.as(ctx, id), bucket, key)
	return oi, err
}

type emptyBody struct{ *strings.Reader }

func (emptyBody) Close() error { return nil }

func (b *Backend) GetObject(ctx context.Context, id s3.Identity, bucket, key string) (*s3.Object, error) {
	const op = "shoalfs.GetObject"
	c := b.as(ctx, id)
	for try := 0; ; try++ {
		a, oi, err := b.lookup(op, c, bucket, key)
		if err != nil {
			return nil, err
		}
		if a.Mode.IsDir() {
			return &s3.Object{Info: oi, Body: emptyBody{strings.NewReader("")}}, nil
		}
		f, err := c.OpenFile(objPath(bucket, key), os.O_RDONLY, 0)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, noKey(op, key)
			}
			return nil, fserr.E(op, key, err)
		}
		fi, err := f.Stat()
		if err == nil {
			na := fi.Sys().(*shoal.Attr)
			if na.Ino == a.Ino && na.Size == a.Size && na.Mtime.Equal(a.Mtime) || try >= 3 {
				// The handle reads the object its attributes describe,
				// even if it is replaced meanwhile.
				if derived(oi) && na.Ino == a.Ino {
					at := *na
					if at.Size == 0 {
						b.keepMD5(ctx, bucket, key, at, hex.EncodeToString(md5.New().Sum(nil)))
						return &s3.Object{Info: oi, Body: f}, nil
					}
					return &s3.Object{Info: oi, Body: &md5Body{File: f, h: md5.New(), size: at.Size,
						finish: func(sum string) { b.keepMD5(context.WithoutCancel(ctx), bucket, key, at, sum) }}}, nil
				}
				return &s3.Object{Info: oi, Body: f}, nil
			}
		}
		f.Close()
		if err != nil {
			return nil, fserr.E(op, key, err)
		}
	}
}

func (b *Backend) DeleteObject(ctx context.Context, id s3.Identity, bucket, key string) error {
	const op = "shoalfs.DeleteObject"
	if err := checkKey(op, key); err != nil {
		return err
	}
	c := b.as(ctx, id)
	if _, _, err := b.bucketMeta(op, c, bucket); err != nil {
		return err
	}
	unlock := b.lockKey(bucket, key)
	defer unlock()
	p := objPath(bucket, key)
	a, err := stat(c, p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || fserr.Is(fserr.NotDir, err) {
			return nil
		}
		return fserr.E(op, key, err)
	}
	if strings.HasSuffix(key, "/") {
		if !a.Mode.IsDir() {
			return nil
		}
		if err := c.RemoveXattr(p, XattrObject); err != nil && !fserr.Is(fserr.NoData, err) {
			return fserr.E(op, key, err)
		}
		c.Remove(p) // fails, harmlessly, while it holds objects
		b.prune(c, bucket, key)
		return nil
	}
	if a.Mode.IsDir() {
		return nil // no object by that name
	}
	if err := c.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fserr.E(op, key, err)
	}
	b.prune(c, bucket, key)
	return nil
}

func (b *Backend) CopyObject(ctx context.Context, id s3.Identity, bucket, key string, in s3.CopyInput) (s3.ObjectInfo, error) {
	const op = "shoalfs.CopyObject"
	if err := checkKey(op, key); err != nil {
		return s3.ObjectInfo{}, err
	}
	c := b.as(ctx, id)
	srcPath, cloner := objPath(in.SrcBucket, in.SrcKey), c
	sa, src, err := b.lookup(op, c, in.SrcBucket, in.SrcKey)
	if in.SrcVersionID != "" && (err != nil || vidName(src.VersionID) != in.SrcVersionID) {
		// An older version: its stored file is the source.
		if err := b.canRead(op, c, in.SrcBucket); err != nil {
			return s3.ObjectInfo{}, err
		}
		s, serr := b.findStored(b.c.WithContext(ctx), in.SrcBucket, in.SrcKey, in.SrcVersionID)
		if serr != nil {
			return s3.ObjectInfo{}, fserr.E(op, in.SrcKey, serr)
		}
		if s == nil || s.meta.DeleteMarker {
			return s3.ObjectInfo{}, noVersion(op, in.SrcVersionID)
		}
		sa, src, srcPath, err = s.attr, s.info(in.SrcKey), s.path, nil
		// The stored file is the backend's: it clones it, then hands the
		// copy to the requester.
		cloner = b.c.WithContext(ctx)
	}
	if err != nil {
		return s3.ObjectInfo{}, err
	}
	if in.SrcETag != "" && src.ETag != in.SrcETag {
		return s3.ObjectInfo{}, fserr.E(op, in.SrcKey, fserr.Exist, s3.ErrPreconditionFailed)
	}
	if _, _, err := b.bucketMeta(op, c, bucket); err != nil {
		return s3.ObjectInfo{}, err
	}
	m := metaFrom(src.Meta)
	if in.Meta != nil {
		m = metaFrom(*in.Meta)
	}
	m.Tags = src.Meta.Tags
	if in.ReplaceTags {
		m.Tags = in.Tags
	}
	m.ACL = in.ACL
	m.ETag, m.ChecksumAlg, m.Checksum, m.PartSizes = src.ETag, string(src.ChecksumAlgorithm), src.Checksum, src.PartSizes
	m.UploadID = ""
	if sa.Mode.IsDir() || strings.HasSuffix(key, "/") {
		if !sa.Mode.IsDir() || !strings.HasSuffix(key, "/") || sa.Size != 0 {
			return s3.ObjectInfo{}, fserr.Errorf(op, fserr.Invalid, "shoalfs: copy between a directory marker and an object")
		}
		return b.putMarker(op, c, bucket, key, s3.PutInput{Body: strings.NewReader(""), Meta: m.s3Meta(),
			Digest: func() s3.Digest { return s3.Digest{MD5: src.ETag} }}, in.Cond)
	}
	if err := b.staging(ctx); err != nil {
		return s3.ObjectInfo{}, err
	}
	tmp := path.Join(tmpDir, "tmp-"+randomID())
	err = cloner.CloneFile(srcPath, tmp)
	if err == nil && cloner != c {
		err = cloner.Lchown(tmp, int(id.Uid), int(id.Gid))
	}
	if err != nil {
		cloner.Remove(tmp)
		return s3.ObjectInfo{}, fserr.E(op, key, err)
	}
	ta, err := stat(c, tmp)
	if err != nil {
		c.Remove(tmp)
		return s3.ObjectInfo{}, fserr.E(op, key, err)
	}
	if ta.Size != sa.Size {
		// The source was replaced between lookup and clone.
		c.Remove(tmp)
		return s3.ObjectInfo{}, fserr.E(op, in.SrcKey, fserr.Exist, s3.ErrPreconditionFailed)
	}
	m.Size, m.Mtime = ta.Size, ta.Mtime.UnixNano()
	a, raw, err := b.publish(ctx, op, c, bucket, key, tmp, in.Cond, m)
	if err != nil {
		return s3.ObjectInfo{}, err
	}
	return info(key, &a, raw), nil
}

func (b *Backend) PutObjectTags(ctx context.Context, id s3.Identity, bucket, key string, tags []s3.Tag) error {
	const op = "shoalfs.PutObjectTags"
	c := b.as(ctx, id)
	unlock := b.lockKey(bucket, key)
	defer unlock()
	a, _, err := b.lookup(op, c, bucket, key)
	if err != nil {
		return err
	}
	p := objPath(bucket, key)
	var m objectMeta
	raw, err := c.GetXattr(p, XattrObject)
	if err == nil {
		json.Unmarshal(raw, &m)
	} else if !fserr.Is(fserr.NoData, err) {
		return fserr.E(op, key, err)
	}
	if raw == nil {
		// A file written through the filesystem: keep its derived ETag
		// valid by not stamping it (size/mtime stay unmatched).
		m.Size, m.Mtime = -1, 0
	}
	m.Tags = append([]s3.Tag(nil), tags...)
	_ = a
	raw, _ = json.Marshal(m)
	if err := c.SetXattr(p, XattrObject, raw, 0); err != nil {
		return fserr.E(op, key, err)
	}
	return nil
}

// NewGateway is the whole S3 service over c: a Backend (closed by the
// returned Closer, which also closes c) behind an s3.Gateway configured
// by cfg (its Backend is set here). `shoal server` and `shoal gateway`
// both serve it.
func NewGateway(ctx context.Context, c *shoal.Client, cfg s3.Config, opts Options) (http.Handler, io.Closer, error) {
	be, err := New(ctx, c, opts)
	if err != nil {
		return nil, nil, err
	}
	cfg.Backend = be
	gw, err := s3.New(cfg)
	if err != nil {
		be.Close()
		return nil, nil, err
	}
	return gw, closers{be, c}, nil
}

type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
