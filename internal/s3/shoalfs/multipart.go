package shoalfs

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/s3"
	"github.com/shoalfs/shoal/internal/s3/checksum"
)

// Multipart uploads live in /.shoal-s3/uploads/<bucket>/<id>/: the
// directory's user.s3.upload xattr records the key, the initiation time
// and the object's metadata; part n is the file part-NNNNN with a
// user.s3.object xattr (its ETag and checksum). A part is staged as a
// tmp- file and renamed over its name, so a replaced part is atomic.

type uploadMeta struct {
	Key       string     `json:"key"`
	Initiated int64      `json:"initiated"` // ns
	Meta      objectMeta `json:"meta"`      // with the lock asked for at creation
	CkAlg     string     `json:"ckalg,omitempty"`
	CkType    string     `json:"cktype,omitempty"`
	Locked    bool       `json:"locked,omitempty"` // Meta's lock was asked for
}

func (m *uploadMeta) s3Meta() s3.ObjectMeta {
	om := m.Meta.s3Meta()
	om.ChecksumAlgorithm, om.ChecksumType = checksum.Algorithm(m.CkAlg), m.CkType
	if m.Locked {
		l := m.Meta.lock()
		om.Lock = &l
	}
	return om
}

func uploadPath(bucket, uploadID string) string { return path.Join(uploadsDir, bucket, uploadID) }

func partName(n int) string { return fmt.Sprintf("part-%05d", n) }

func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// upload checks that uploadID is an upload of key in bucket.
func (b *Backend) upload(op string, c *shoal.Client, bucket, key, uploadID string) (uploadMeta, error) {
	var m uploadMeta
	if !validUploadID(uploadID) {
		if _, _, berr := b.bucketMeta(op, c, bucket); berr != nil {
			return m, berr
		}
		return m, noUpload(op, uploadID)
	}
	raw, err := c.GetXattr(uploadPath(bucket, uploadID), XattrUpload)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || fserr.Is(fserr.NoData, err) {
			if _, _, berr := b.bucketMeta(op, c, bucket); berr != nil {
				return m, berr
			}
			return m, noUpload(op, uploadID)
		}
		return m, fserr.E(op, uploadID, err)
	}
	if json.Unmarshal(raw, &m) != nil || m.Key != key {
		return m, noUpload(op, uploadID)
	}
	return m, nil
}

func (b *Backend) CreateMultipart(ctx context.Context, id s3.Identity, bucket, key string, meta s3.ObjectMeta) (string, error) {
	const op = "shoalfs.CreateMultipart"
	if err := checkKey(op, key); err != nil {
		return "", err
	}
	c := b.as(ctx, id)
	if _, _, err := b.bucketMeta(op, c, bucket); err != nil {
		return "", err
	}
	// Staging is writable by everyone: check here what completing will
	// need, so no key starts uploads into a bucket it cannot write.
	if err := b.mayCreate(op, c, id, bucket, key); err != nil {
		return "", err
	}
	// The bucket's upload directory is shared by every identity, sticky
	// like /tmp; the upload's own directory belongs to its initiator.
	if err := b.staging(ctx); err != nil {
		return "", err
	}
	bdir := path.Join(uploadsDir, bucket)
	root := b.c.WithContext(ctx)
	if err := root.Mkdir(bdir, 0o777); err == nil {
		root.Chmod(bdir, 0o777|fs.ModeSticky)
	} else if !errors.Is(err, fs.ErrExist) {
		return "", fserr.E(op, bucket, err)
	}
	uid := randomID()
	dir := uploadPath(bucket, uid)
	if err := c.Mkdir(dir, 0o700); err != nil {
		return "", fserr.E(op, key, err)
	}
	um := uploadMeta{Key: key, Initiated: b.opts.Now().UnixNano(), Meta: metaFrom(meta),
		CkAlg: string(meta.ChecksumAlgorithm), CkType: meta.ChecksumType, Locked: meta.Lock != nil}
	if meta.Lock != nil {
		// Kept in the object's own metadata, so Complete publishes the
		// object with its lock in one step.
		um.Meta.setLock(*meta.Lock)
	}
	raw, _ := json.Marshal(um)
	if err := c.SetXattr(dir, XattrUpload, raw, 0); err != nil {
		c.RemoveAll(dir)
		return "", fserr.E(op, key, err)
	}
	return uid, nil
}

// mayCreate checks that id may create key: write and search permission
// on the deepest directory of key's path that exists (the bucket at
// least), by its mode bits, as the metadata service would.
func (b *Backend) mayCreate(op string, c *shoal.Client, id s3.Identity, bucket, key string) error {
	p := bucketPath(bucket)
	a, err := stat(c, p)
	if err != nil {
		return fserr.E(op, bucket, err)
	}
	segs := strings.Split(strings.TrimSuffix(key, "/"), "/")
	for _, s := range segs[:len(segs)-1] {
		na, err := stat(c, p+"/"+s)
		if err != nil || !na.Mode.IsDir() {
			break
		}
		p, a = p+"/"+s, na
	}
	if id.Uid == 0 {
		return nil
	}
	perm := a.Mode.Perm()
	var bits fs.FileMode
	switch {
	case a.Uid == id.Uid:
		bits = perm >> 6
	case a.Gid == id.Gid || slices.Contains(id.Gids, a.Gid):
		bits = perm >> 3
	default:
		bits = perm
	}
	if bits&0o3 != 0o3 {
		return fserr.E(op, key, fserr.Permission)
	}
	return nil
}

func (b *Backend) PutPart(ctx context.Context, id s3.Identity, bucket, key, uploadID string, n int, in s3.PutInput) (s3.PartInfo, error) {
	const op = "shoalfs.PutPart"
	c := b.as(ctx, id)
	if _, err := b.upload(op, c, bucket, key, uploadID); err != nil {
		return s3.PartInfo{}, err
	}
	dir := uploadPath(bucket, uploadID)
	tmp, _, err := b.stage(op, c, dir, key, in)
	if err != nil {
		return s3.PartInfo{}, err
	}
	d := in.Digest()
	return b.finishPart(op, c, dir, key, tmp, n, objectMeta{ETag: d.MD5, ChecksumAlg: string(d.ChecksumAlgorithm), Checksum: d.Checksum})
}

func (b *Backend) finishPart(op string, c *shoal.Client, dir, key, tmp string, n int, m objectMeta) (s3.PartInfo, error) {
	a, m, err := seal(op, c, tmp, key, m)
	if err == nil {
		err = c.Rename(tmp, path.Join(dir, partName(n)))
	}
	if err != nil {
		c.Remove(tmp)
		if errors.Is(err, fs.ErrNotExist) {
			return s3.PartInfo{}, noUpload(op, path.Base(dir)) // aborted meanwhile
		}
		return s3.PartInfo{}, fserr.E(op, key, err)
	}
	return s3.PartInfo{Number: n, Size: a.Size, ETag: m.ETag, LastModified: a.Mtime, Checksum: m.Checksum}, nil
}

// CopyPart shares the source's blocks. Its ETag is not the MD5 of the
// range (that would mean reading it) but one derived from the source's
// ETag and the range: S3 clients only hand it back at completion.
func (b *Backend) CopyPart(ctx context.Context, id s3.Identity, bucket, key, uploadID string, n int, srcBucket, srcKey, srcETag string, off, length int64) (s3.PartInfo, error) {
	return b.CopyPartVersion(ctx, id, bucket, key, uploadID, n, srcBucket, srcKey, "", srcETag, off, length)
}

// CopyPartVersion implements s3.Versioner: CopyPart from version srcVID
// of the source ("" the latest). An older version's stored file is the
// backend's: its range is copied as the service once the requester's
// read permission on the source bucket is checked, as CopyObject does.
func (b *Backend) CopyPartVersion(ctx context.Context, id s3.Identity, bucket, key, uploadID string, n int, srcBucket, srcKey, srcVID, srcETag string, off, length int64) (s3.PartInfo, error) {
	const op = "shoalfs.CopyPart"
	c := b.as(ctx, id)
	srcPath, copier := objPath(srcBucket, srcKey), c
	sa, src, err := b.lookup(op, c, srcBucket, srcKey)
	if srcVID != "" && (err != nil || vidName(src.VersionID) != srcVID) {
		if err := b.canRead(op, c, srcBucket); err != nil {
			return s3.PartInfo{}, err
		}
		s, serr := b.findStored(b.c.WithContext(ctx), srcBucket, srcKey, srcVID)
		if serr != nil {
			return s3.PartInfo{}, fserr.E(op, srcKey, serr)
		}
		if s == nil || s.meta.DeleteMarker {
			return s3.PartInfo{}, noVersion(op, srcVID)
		}
		sa, src, srcPath, err = s.attr, s.info(srcKey), s.path, nil
		copier = b.c.WithContext(ctx)
	}
	if err != nil {
		return s3.PartInfo{}, err
	}
	if srcETag != "" && src.ETag != srcETag {
		return s3.PartInfo{}, fserr.E(op, srcKey, fserr.Exist, s3.ErrPreconditionFailed)
	}
	if off < 0 || length < 0 || off+length > src.Size || sa.Mode.IsDir() && length > 0 {
		return s3.PartInfo{}, fserr.E(op, srcKey, fserr.Invalid)
	}
	if _, err := b.upload(op, c, bucket, key, uploadID); err != nil {
		return s3.PartInfo{}, err
	}
	dir := uploadPath(bucket, uploadID)
	tmp := path.Join(dir, "tmp-"+randomID())
	f, err := c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return s3.PartInfo{}, fserr.E(op, key, err)
	}
	f.Close()
	if length > 0 {
		if err := copier.CopyFileRange(srcPath, off, tmp, 0, length); err != nil {
			c.Remove(tmp)
			return s3.PartInfo{}, fserr.E(op, key, err)
		}
	}
	sum := md5.Sum(fmt.Appendf(nil, "%s:%d:%d", src.ETag, off, length))
	return b.finishPart(op, c, dir, key, tmp, n, objectMeta{ETag: hex.EncodeToString(sum[:])})
}

// parts lists an upload's parts numbered above marker, up to max (all
// when max <= 0), with their sizes.
func (b *Backend) parts(c *shoal.Client, dir string, marker, max int) ([]s3.PartInfo, bool, error) {
	var out []s3.PartInfo
	after := partName(marker)
	for {
		ents, err := c.ListNames(dir, after, 1000, XattrObject)
		if err != nil {
			return nil, false, err
		}
		for _, e := range ents {
			num, ok := strings.CutPrefix(e.Name, "part-")
			if !ok || !e.Attr.Mode.IsRegular() {
				continue
			}
			n, err := strconv.Atoi(num)
			if err != nil {
				continue
			}
			if max > 0 && len(out) == max {
				return out, true, nil
			}
			oi := info("", &e.Attr, e.Xattr)
			out = append(out, s3.PartInfo{Number: n, Size: e.Attr.Size, ETag: oi.ETag, LastModified: e.Attr.Mtime, Checksum: oi.Checksum, ChecksumAlgorithm: oi.ChecksumAlgorithm})
		}
		if len(ents) < 1000 {
			return out, false, nil
		}
		after = ents[len(ents)-1].Name
	}
}

func (b *Backend) Upload(ctx context.Context, id s3.Identity, bucket, key, uploadID string) (s3.UploadInfo, error) {
	const op = "shoalfs.Upload"
	um, err := b.upload(op, b.as(ctx, id), bucket, key, uploadID)
	if err != nil {
		return s3.UploadInfo{}, err
	}
	return s3.UploadInfo{Key: key, UploadID: uploadID, Initiated: time.Unix(0, um.Initiated), Meta: um.s3Meta()}, nil
}

func (b *Backend) ListParts(ctx context.Context, id s3.Identity, bucket, key, uploadID string, marker, max int) ([]s3.PartInfo, bool, error) {
	const op = "shoalfs.ListParts"
	c := b.as(ctx, id)
	if _, err := b.upload(op, c, bucket, key, uploadID); err != nil {
		return nil, false, err
	}
	ps, trunc, err := b.parts(c, uploadPath(bucket, uploadID), marker, max)
	if err != nil {
		return nil, false, fserr.E(op, uploadID, err)
	}
	return ps, trunc, nil
}

func (b *Backend) CompleteMultipart(ctx context.Context, id s3.Identity, bucket, key, uploadID string, parts []s3.CompletePart, etag string, cond s3.WriteCond) (s3.ObjectInfo, error) {
	const op = "shoalfs.CompleteMultipart"
	c := b.as(ctx, id)
	um, err := b.upload(op, c, bucket, key, uploadID)
	if err != nil {
		return s3.ObjectInfo{}, err
	}
	dir := uploadPath(bucket, uploadID)
	have, _, err := b.parts(c, dir, 0, 0)
	if err != nil {
		return s3.ObjectInfo{}, fserr.E(op, uploadID, err)
	}
	byNum := make(map[int]s3.PartInfo, len(have))
	for _, p := range have {
		byNum[p.Number] = p
	}
	names := make([]string, len(parts))
	sizes := make([]int64, len(parts))
	listed := make([]s3.PartInfo, len(parts))
	for i, cp := range parts {
		p, ok := byNum[cp.Number]
		if !ok || p.ETag != cp.ETag {
			return s3.ObjectInfo{}, fserr.E(op, key, fserr.Invalid, s3.ErrInvalidPart)
		}
		names[i] = path.Join(dir, partName(cp.Number))
		sizes[i] = p.Size
		listed[i] = p
	}
	tmp := path.Join(dir, "tmp-"+randomID())
	if err := c.ConcatFiles(tmp, names); err != nil {
		c.Remove(tmp)
		return s3.ObjectInfo{}, fserr.E(op, key, err)
	}
	m := um.Meta
	alg, sum := s3.MultipartChecksum(listed, checksum.Algorithm(um.CkAlg), um.CkType)
	m.ETag, m.PartSizes, m.ChecksumAlg, m.Checksum, m.UploadID = etag, sizes, string(alg), sum, uploadID
	ta, err := stat(c, tmp)
	if err != nil {
		c.Remove(tmp)
		return s3.ObjectInfo{}, fserr.E(op, key, err)
	}
	m.Size, m.Mtime = ta.Size, ta.Mtime.UnixNano()
	a, raw, err := b.publish(ctx, op, c, bucket, key, tmp, cond, m)
	if err != nil {
		return s3.ObjectInfo{}, err
	}
	if err := c.RemoveAll(dir); err != nil {
		b.opts.Logger.Warn("shoalfs: removing a completed upload", "upload", uploadID, "err", err)
	}
	return info(key, &a, raw), nil
}

func (b *Backend) AbortMultipart(ctx context.Context, id s3.Identity, bucket, key, uploadID string) error {
	const op = "shoalfs.AbortMultipart"
	c := b.as(ctx, id)
	if _, err := b.upload(op, c, bucket, key, uploadID); err != nil {
		return err
	}
	if err := c.RemoveAll(uploadPath(bucket, uploadID)); err != nil {
		return fserr.E(op, uploadID, err)
	}
	return nil
}

func (b *Backend) ListUploads(ctx context.Context, id s3.Identity, bucket string, in s3.ListUploadsInput) ([]s3.UploadInfo, bool, error) {
	const op = "shoalfs.ListUploads"
	c := b.as(ctx, id)
	if _, _, err := b.bucketMeta(op, c, bucket); err != nil {
		return nil, false, err
	}
	var out []s3.UploadInfo
	err := b.eachUpload(b.c.WithContext(ctx), bucket, func(uid string, m uploadMeta) {
		if !strings.HasPrefix(m.Key, in.Prefix) {
			return
		}
		if in.KeyMarker != "" && (m.Key < in.KeyMarker || (m.Key == in.KeyMarker && (in.UploadIDMarker == "" || uid <= in.UploadIDMarker))) {
			return
		}
		out = append(out, s3.UploadInfo{Key: m.Key, UploadID: uid, Initiated: time.Unix(0, m.Initiated)})
	})
	if err != nil {
		return nil, false, fserr.E(op, bucket, err)
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

// eachUpload calls fn for every upload of bucket (all of them: uploads
// in flight are few).
func (b *Backend) eachUpload(c *shoal.Client, bucket string, fn func(uid string, m uploadMeta)) error {
	dir := path.Join(uploadsDir, bucket)
	after := ""
	for {
		ents, err := c.ListNames(dir, after, 1000, XattrUpload)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, e := range ents {
			var m uploadMeta
			if e.Attr.Mode.IsDir() && e.Xattr != nil && json.Unmarshal(e.Xattr, &m) == nil {
				fn(e.Name, m)
			}
		}
		if len(ents) < 1000 {
			return nil
		}
		after = ents[len(ents)-1].Name
	}
}

// cleanLoop removes abandoned uploads and temporary files.
func (b *Backend) cleanLoop(ctx context.Context) {
	t := time.NewTicker(b.opts.CleanInterval)
	defer t.Stop()
	for {
		if _, err := b.Clean(ctx); err != nil && ctx.Err() == nil {
			b.opts.Logger.Warn("shoalfs: cleaning abandoned uploads", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Clean removes multipart uploads initiated more than UploadTTL ago and
// temporary files older than that, and returns how many it removed.
func (b *Backend) Clean(ctx context.Context) (int, error) {
	c := b.c.WithContext(ctx)
	cutoff := b.opts.Now().Add(-b.opts.UploadTTL)
	removed := 0
	var errs []error
	bk := ""
	for {
		ents, err := c.ListNames(uploadsDir, bk, 1000, "")
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil // nothing staged yet
		}
		if err != nil {
			return removed, err
		}
		for _, e := range ents {
			err := b.eachUpload(c, e.Name, func(uid string, m uploadMeta) {
				if time.Unix(0, m.Initiated).Before(cutoff) {
					if err := c.RemoveAll(uploadPath(e.Name, uid)); err != nil {
						errs = append(errs, err)
					} else {
						removed++
					}
				}
			})
			if err != nil {
				errs = append(errs, err)
			}
		}
		if len(ents) < 1000 {
			break
		}
		bk = ents[len(ents)-1].Name
	}
	after := ""
	for {
		ents, err := c.ListNames(tmpDir, after, 1000, "")
		if err != nil {
			return removed, err
		}
		for _, e := range ents {
			if e.Attr.Mtime.Before(cutoff) && c.Remove(path.Join(tmpDir, e.Name)) == nil {
				removed++
			}
		}
		if len(ents) < 1000 {
			break
		}
		after = ents[len(ents)-1].Name
	}
	return removed, errors.Join(errs...)
}
