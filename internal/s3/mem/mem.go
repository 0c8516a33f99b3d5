// Package mem is an in-memory s3.Backend for tests of the gateway. It
// follows the contract a filesystem backend must keep: keys ordered by raw
// bytes, file/directory conflicts rejected ("a" and "a/b" cannot both be
// objects), staging invisible, atomic writes that leave nothing behind on
// a failed body. Object data is immutable once stored, so copies share it
// the way the Shoal adapter shares blocks. It checks no permissions.
package mem

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/btree"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/s3"
)

// Backend is the in-memory backend. The zero value is not usable; use New.
type Backend struct {
	now func() time.Time
	mu  struct {
		sync.Mutex
		buckets map[string]*bucket
		nextID  uint64
	}
}

type bucket struct {
	owner   uint32
	created time.Time
	public  bool
	tags    []s3.Tag
	config  map[string][]byte
	acl     string
	objects *btree.BTreeG[*object]
	uploads map[string]*upload
}

type object struct {
	key  string
	data []byte // immutable once stored: readers and copies share it
	info s3.ObjectInfo
}

type upload struct {
	key       string
	id        string
	initiated time.Time
	meta      s3.ObjectMeta
	parts     map[int]*part
}

type part struct {
	info s3.PartInfo
	data []byte
}

var _ s3.Backend = (*Backend)(nil)

// New returns an empty backend.
func New() *Backend {
	b := &Backend{now: time.Now}
	b.mu.buckets = map[string]*bucket{}
	return b
}

// SetPublic marks a bucket readable by anonymous requests.
func (b *Backend) SetPublic(name string, public bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, err := b.bucketLocked("mem.SetPublic", name)
	if err != nil {
		return err
	}
	bk.public = public
	return nil
}

func noBucket(op, name string) error { return fserr.E(op, name, fserr.NotExist, s3.ErrNoSuchBucket) }
func noKey(op, key string) error     { return fserr.E(op, key, fserr.NotExist, s3.ErrNoSuchKey) }
func noUpload(op, id string) error   { return fserr.E(op, id, fserr.NotExist, s3.ErrNoSuchUpload) }

func (b *Backend) bucketLocked(op, name string) (*bucket, error) {
	bk := b.mu.buckets[name]
	if bk == nil {
		return nil, noBucket(op, name)
	}
	return bk, nil
}

func (b *Backend) ListBuckets(ctx context.Context, id s3.Identity) ([]s3.BucketInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []s3.BucketInfo
	for n, bk := range b.mu.buckets {
		out = append(out, s3.BucketInfo{Name: n, Created: bk.created, Owner: bk.owner})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (b *Backend) CreateBucket(ctx context.Context, id s3.Identity, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mu.buckets[name] != nil {
		return fserr.E("mem.CreateBucket", name, fserr.Exist, s3.ErrBucketExists)
	}
	b.mu.buckets[name] = &bucket{
		owner:   id.Uid,
		created: b.now(),
		objects: btree.NewG(16, func(x, y *object) bool { return x.key < y.key }),
		uploads: map[string]*upload{},
	}
	return nil
}

func (b *Backend) HeadBucket(ctx context.Context, id s3.Identity, name string) (s3.BucketInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, err := b.bucketLocked("mem.HeadBucket", name)
	if err != nil {
		return s3.BucketInfo{}, err
	}
	return s3.BucketInfo{Name: name, Created: bk.created, Owner: bk.owner}, nil
}

func (b *Backend) DeleteBucket(ctx context.Context, id s3.Identity, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, err := b.bucketLocked("mem.DeleteBucket", name)
	if err != nil {
		return err
	}
	// Uploads in progress go with the bucket, as in S3.
	if bk.objects.Len() > 0 {
		return fserr.E("mem.DeleteBucket", name, fserr.NotEmpty, s3.ErrBucketNotEmpty)
	}
	delete(b.mu.buckets, name)
	return nil
}

func (b *Backend) BucketPublic(ctx context.Context, name string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, err := b.bucketLocked("mem.BucketPublic", name)
	if err != nil {
		return false, err
	}
	return bk.public, nil
}

func (b *Backend) BucketTags(ctx context.Context, id s3.Identity, name string) ([]s3.Tag, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, err := b.bucketLocked("mem.BucketTags", name)
	if err != nil {
		return nil, err
	}
	return append([]s3.Tag(nil), bk.tags...), nil
}

func (b *Backend) PutBucketTags(ctx context.Context, id s3.Identity, name string, tags []s3.Tag) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, err := b.bucketLocked("mem.PutBucketTags", name)
	if err != nil {
		return err
	}
	bk.tags = append([]s3.Tag(nil), tags...)
	return nil
}

func (b *Backend) BucketOwner(ctx context.Context, name string) (uint32, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, err := b.bucketLocked("mem.BucketOwner", name)
	if err != nil {
		return 0, err
	}
	return bk.owner, nil
}

func (b *Backend) BucketACL(ctx context.Context, id s3.Identity, name string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, err := b.bucketLocked("mem.BucketACL", name)
	if err != nil {
		return "", err
	}
	if bk.acl == "" {
		return s3.ACLPrivate, nil
	}
	return bk.acl, nil
}

func (b *Backend) PutBucketACL(ctx context.Context, id s3.Identity, name, canned string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, err := b.bucketLocked("mem.PutBucketACL", name)
	if err != nil {
		return err
	}
	bk.acl = canned
	bk.public = canned == s3.ACLPublicRead || canned == s3.ACLPublicReadWrite
	return nil
}

func (b *Backend) BucketConfig(ctx context.Context, name, conf string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, err := b.bucketLocked("mem.BucketConfig", name)
	if err != nil {
		return nil, err
	}
	return bk.config[conf], nil
}

func (b *Backend) PutBucketConfig(ctx context.Context, id s3.Identity, name, conf string, value []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, err := b.bucketLocked("mem.PutBucketConfig", name)
	if err != nil {
		return err
	}
	if bk.config == nil {
		bk.config = map[string][]byte{}
	}
	if value == nil {
		delete(bk.config, conf)
	} else {
		bk.config[conf] = append([]byte(nil), value...)
	}
	return nil
}

// readBody reads a whole body; the memory backend may buffer (the
// gateway never does). A failed body stores nothing.
func readBody(op string, in s3.PutInput) ([]byte, error) {
	data, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, fserr.E(op, fserr.Invalid, err)
	}
	if in.Size >= 0 && int64(len(data)) != in.Size {
		return nil, fserr.Errorf(op, fserr.Invalid, "mem: body is %d bytes, want %d", len(data), in.Size)
	}
	return data, nil
}

func (bk *bucket) get(key string) *object {
	o, _ := bk.objects.Get(&object{key: key})
	return o
}

// conflictLocked rejects a key whose path collides with a directory or
// whose ancestor is a file, as a filesystem would.
func (bk *bucket) conflictLocked(op, key string) error {
	p := strings.TrimSuffix(key, "/")
	if !strings.HasSuffix(key, "/") {
		found := false
		bk.objects.AscendGreaterOrEqual(&object{key: p + "/"}, func(o *object) bool {
			found = strings.HasPrefix(o.key, p+"/")
			return false
		})
		if found {
			return fserr.E(op, key, fserr.IsDir, s3.ErrKeyConflict)
		}
	} else if bk.get(p) != nil {
		return fserr.E(op, key, fserr.NotDir, s3.ErrKeyConflict)
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && bk.get(p[:i]) != nil {
			return fserr.E(op, key, fserr.NotDir, s3.ErrKeyConflict)
		}
	}
	return nil
}

func checkCond(op string, cur *object, key string, c s3.WriteCond) error {
	var ci *s3.ObjectInfo
	if cur != nil {
		ci = &cur.info
	}
	switch err := c.Check(ci); err {
	case nil:
		return nil
	case s3.ErrNoSuchKey:
		return noKey(op, key)
	default:
		return fserr.E(op, key, fserr.Exist, err)
	}
}

func (b *Backend) PutObject(ctx context.Context, id s3.Identity, name, key string, in s3.PutInput, cond s3.WriteCond) (s3.ObjectInfo, error) {
	const op = "mem.PutObject"
	data, err := readBody(op, in)
	if err != nil {
		return s3.ObjectInfo{}, err
	}
	d := in.Digest()
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, err := b.bucketLocked(op, name)
	if err != nil {
		return s3.ObjectInfo{}, err
	}
	cur := bk.get(key)
	if err := checkCond(op, cur, key, cond); err != nil {
		return s3.ObjectInfo{}, err
	}
	if err := bk.conflictLocked(op, key); err != nil {
		return s3.ObjectInfo{}, err
	}
	o := &object{key: key, data: data, info: s3.ObjectInfo{
		Key: key, Size: int64(len(data)), ETag: d.MD5, LastModified: b.now(), Meta: in.Meta,
		ChecksumAlgorithm: d.ChecksumAlgorithm, Checksum: d.Checksum,
	}}
	bk.objects.ReplaceOrInsert(o)
	return o.info, nil
}

func (b *Backend) lookup(op, name, key string) (*object, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, err := b.bucketLocked(op, name)
	if err != nil {
		return nil, err
	}
	o := bk.get(key)
	if o == nil {
		return nil, noKey(op, key)
	}
	return o, nil
}

func (b *Backend) HeadObject(ctx context.Context, id s3.Identity, name, key string) (s3.ObjectInfo, error) {
	o, err := b.lookup("mem.HeadObject", name, key)
	if err != nil {
		return s3.ObjectInfo{}, err
	}
	return o.info, nil
}

type body struct{ *bytes.Reader }

func (body) Close() error { return nil }

func (b *Backend) GetObject(ctx context.Context, id s3.Identity, name, key string) (*s3.Object, error) {
	o, err := b.lookup("mem.GetObject", name, key)
	if err != nil {
		return nil, err
	}
	return &s3.Object{Info: o.info, Body: body{bytes.NewReader(o.data)}}, nil
}

func (b *Backend) DeleteObject(ctx context.Context, id s3.Identity, name, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, err := b.bucketLocked("mem.DeleteObject", name)
	if err != nil {
		return err
	}
	bk.objects.Delete(&object{key: key})
	return nil
}

func (b *Backend) CopyObject(ctx context.Context, id s3.Identity, name, key string, in s3.CopyInput) (s3.ObjectInfo, error) {
	const op = "mem.CopyObject"
	b.mu.Lock()
	defer b.mu.Unlock()
	sb, err := b.bucketLocked(op, in.SrcBucket)
	if err != nil {
		return s3.ObjectInfo{}, err
	}
	src := sb.get(in.SrcKey)
	if src == nil {
		return s3.ObjectInfo{}, noKey(op, in.SrcKey)
	}
	if in.SrcETag != "" && src.info.ETag != in.SrcETag {
		return s3.ObjectInfo{}, fserr.E(op, in.SrcKey, fserr.Exist, s3.ErrPreconditionFailed)
	}
	db, err := b.bucketLocked(op, name)
	if err != nil {
		return s3.ObjectInfo{}, err
	}
	if err := checkCond(op, db.get(key), key, in.Cond); err != nil {
		return s3.ObjectInfo{}, err
	}
	if err := db.conflictLocked(op, key); err != nil {
		return s3.ObjectInfo{}, err
	}
	info := src.info
	info.Key = key
	info.UploadID = ""
	info.LastModified = b.now()
	tags := info.Meta.Tags
	if in.Meta != nil {
		info.Meta = *in.Meta
	}
	info.Meta.Tags = tags
	if in.ReplaceTags {
		info.Meta.Tags = in.Tags
	}
	info.Meta.ACL = in.ACL
	o := &object{key: key, data: src.data, info: info}
	db.objects.ReplaceOrInsert(o)
	return info, nil
}

func (b *Backend) PutObjectTags(ctx context.Context, id s3.Identity, name, key string, tags []s3.Tag) error {
	const op = "mem.PutObjectTags"
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, err := b.bucketLocked(op, name)
	if err != nil {
		return err
	}
	o := bk.get(key)
	if o == nil {
		return noKey(op, key)
	}
	n := *o
	n.info.Meta.Tags = append([]s3.Tag(nil), tags...)
	bk.objects.ReplaceOrInsert(&n)
	return nil
}

// PutObjectACL implements s3.ACLKeeper (mem keeps no versions: vid
// must be "" or the null version).
func (b *Backend) PutObjectACL(ctx context.Context, id s3.Identity, name, key, vid string, grants []s3.Grant) (s3.ObjectInfo, error) {
	const op = "mem.PutObjectACL"
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, err := b.bucketLocked(op, name)
	if err != nil {
		return s3.ObjectInfo{}, err
	}
	o := bk.get(key)
	if o == nil || vid != "" && vid != s3.NullVersion {
		return s3.ObjectInfo{}, noKey(op, key)
	}
	n := *o
	n.info.Meta.ACL = append([]s3.Grant(nil), grants...)
	bk.objects.ReplaceOrInsert(&n)
	return n.info, nil
}

// seekLocked returns the first object with key >= pos (> pos unless incl).
func (bk *bucket) seekLocked(pos string, incl bool) *object {
	var found *object
	bk.objects.AscendGreaterOrEqual(&object{key: pos}, func(o *object) bool {
		if !incl && o.key == pos {
			return true
		}
		found = o
		return false
	})
	return found
}

// List walks the ordered keys, jumping over each common prefix with one
// seek, the way a directory scan skips a subdirectory.
func (b *Backend) List(ctx context.Context, id s3.Identity, name string, in s3.ListInput) (s3.ListPage, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, err := b.bucketLocked("mem.List", name)
	if err != nil {
		return s3.ListPage{}, err
	}
	scan, pos, incl, ok := s3.NewListScan(in)
	for ok {
		o := bk.seekLocked(pos, incl)
		if o == nil {
			break
		}
		cp, resume, done := scan.Add(o.key, func() s3.ObjectInfo { return o.info })
		if done {
			break
		}
		if cp != "" {
			pos, incl = resume, true
		} else {
			pos, incl = o.key, false
		}
	}
	return scan.Page, nil
}

func (b *Backend) CreateMultipart(ctx context.Context, id s3.Identity, name, key string, meta s3.ObjectMeta) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, err := b.bucketLocked("mem.CreateMultipart", name)
	if err != nil {
		return "", err
	}
	b.mu.nextID++
	uid := fmt.Sprintf("%016x", b.mu.nextID)
	bk.uploads[uid] = &upload{key: key, id: uid, initiated: b.now(), meta: meta, parts: map[int]*part{}}
	return uid, nil
}

func (b *Backend) Upload(ctx context.Context, id s3.Identity, name, key, uploadID string) (s3.UploadInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, u, err := b.uploadLocked("mem.Upload", name, key, uploadID)
	if err != nil {
		return s3.UploadInfo{}, err
	}
	return s3.UploadInfo{Key: key, UploadID: uploadID, Initiated: u.initiated, Meta: u.meta}, nil
}

func (b *Backend) uploadLocked(op, name, key, uploadID string) (*bucket, *upload, error) {
	bk, err := b.bucketLocked(op, name)
	if err != nil {
		return nil, nil, err
	}
	u := bk.uploads[uploadID]
	if u == nil || u.key != key {
		return nil, nil, noUpload(op, uploadID)
	}
	return bk, u, nil
}

func (b *Backend) PutPart(ctx context.Context, id s3.Identity, name, key, uploadID string, n int, in s3.PutInput) (s3.PartInfo, error) {
	const op = "mem.PutPart"
	data, err := readBody(op, in)
	if err != nil {
		return s3.PartInfo{}, err
	}
	d := in.Digest()
	b.mu.Lock()
	defer b.mu.Unlock()
	_, u, err := b.uploadLocked(op, name, key, uploadID)
	if err != nil {
		return s3.PartInfo{}, err
	}
	p := &part{data: data, info: s3.PartInfo{Number: n, Size: int64(len(data)), ETag: d.MD5, LastModified: b.now(), Checksum: d.Checksum, ChecksumAlgorithm: d.ChecksumAlgorithm}}
	u.parts[n] = p
	return p.info, nil
}

func (b *Backend) CopyPart(ctx context.Context, id s3.Identity, name, key, uploadID string, n int, srcBucket, srcKey, srcETag string, off, length int64) (s3.PartInfo, error) {
	const op = "mem.CopyPart"
	b.mu.Lock()
	defer b.mu.Unlock()
	sb, err := b.bucketLocked(op, srcBucket)
	if err != nil {
		return s3.PartInfo{}, err
	}
	src := sb.get(srcKey)
	if src == nil {
		return s3.PartInfo{}, noKey(op, srcKey)
	}
	if srcETag != "" && src.info.ETag != srcETag {
		return s3.PartInfo{}, fserr.E(op, srcKey, fserr.Exist, s3.ErrPreconditionFailed)
	}
	if off < 0 || length < 0 || off+length > int64(len(src.data)) {
		return s3.PartInfo{}, fserr.E(op, srcKey, fserr.Invalid)
	}
	_, u, err := b.uploadLocked(op, name, key, uploadID)
	if err != nil {
		return s3.PartInfo{}, err
	}
	data := src.data[off : off+length]
	sum := md5.Sum(data)
	p := &part{data: data, info: s3.PartInfo{Number: n, Size: length, ETag: hex.EncodeToString(sum[:]), LastModified: b.now()}}
	u.parts[n] = p
	return p.info, nil
}

func (b *Backend) ListParts(ctx context.Context, id s3.Identity, name, key, uploadID string, marker, max int) ([]s3.PartInfo, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, u, err := b.uploadLocked("mem.ListParts", name, key, uploadID)
	if err != nil {
		return nil, false, err
	}
	var nums []int
	for n := range u.parts {
		if n > marker {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	truncated := false
	if max > 0 && len(nums) > max {
		nums, truncated = nums[:max], true
	}
	out := make([]s3.PartInfo, len(nums))
	for i, n := range nums {
		out[i] = u.parts[n].info
	}
	return out, truncated, nil
}

func (b *Backend) CompleteMultipart(ctx context.Context, id s3.Identity, name, key, uploadID string, parts []s3.CompletePart, etag string, cond s3.WriteCond) (s3.ObjectInfo, error) {
	const op = "mem.CompleteMultipart"
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, u, err := b.uploadLocked(op, name, key, uploadID)
	if err != nil {
		return s3.ObjectInfo{}, err
	}
	var size int64
	sizes := make([]int64, len(parts))
	for i, cp := range parts {
		p := u.parts[cp.Number]
		if p == nil || p.info.ETag != cp.ETag {
			return s3.ObjectInfo{}, fserr.E(op, key, fserr.Invalid, s3.ErrInvalidPart)
		}
		sizes[i] = p.info.Size
		size += p.info.Size
	}
	if err := checkCond(op, bk.get(key), key, cond); err != nil {
		return s3.ObjectInfo{}, err
	}
	if err := bk.conflictLocked(op, key); err != nil {
		return s3.ObjectInfo{}, err
	}
	data := make([]byte, 0, size)
	for _, cp := range parts {
		data = append(data, u.parts[cp.Number].data...)
	}
	meta := u.meta
	meta.ChecksumAlgorithm, meta.ChecksumType, meta.Lock = "", "", nil
	o := &object{key: key, data: data, info: s3.ObjectInfo{
		Key: key, Size: size, ETag: etag, LastModified: b.now(), Meta: meta, PartSizes: sizes, UploadID: uploadID,
	}}
	listed := make([]s3.PartInfo, len(parts))
	for i, cp := range parts {
		listed[i] = u.parts[cp.Number].info
	}
	o.info.ChecksumAlgorithm, o.info.Checksum = s3.MultipartChecksum(listed, u.meta.ChecksumAlgorithm, u.meta.ChecksumType)
	bk.objects.ReplaceOrInsert(o)
	delete(bk.uploads, uploadID)
	return o.info, nil
}

func (b *Backend) AbortMultipart(ctx context.Context, id s3.Identity, name, key, uploadID string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, _, err := b.uploadLocked("mem.AbortMultipart", name, key, uploadID)
	if err != nil {
		return err
	}
	delete(bk.uploads, uploadID)
	return nil
}

func (b *Backend) ListUploads(ctx context.Context, id s3.Identity, name string, in s3.ListUploadsInput) ([]s3.UploadInfo, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, err := b.bucketLocked("mem.ListUploads", name)
	if err != nil {
		return nil, false, err
	}
	var out []s3.UploadInfo
	for _, u := range bk.uploads {
		if !strings.HasPrefix(u.key, in.Prefix) {
			continue
		}
		if in.KeyMarker != "" && (u.key < in.KeyMarker || (u.key == in.KeyMarker && (in.UploadIDMarker == "" || u.id <= in.UploadIDMarker))) {
			continue
		}
		out = append(out, s3.UploadInfo{Key: u.key, UploadID: u.id, Initiated: u.initiated})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Key != out[j].Key {
			return out[i].Key < out[j].Key
		}
		return out[i].UploadID < out[j].UploadID
	})
	max := in.Max
	if max <= 0 {
		max = 1000
	}
	if len(out) > max {
		return out[:max], true, nil
	}
	return out, false, nil
}
