package shoalfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/s3"
	"github.com/shoalfs/shoal/internal/s3/checksum"
)

// Versions (docs/s3.md, "Versioning: the mapping onto the namespace").
// The latest version of a key is its file in the bucket; older versions
// and delete markers are files of the key's node under
// /.shoal-s3/versions/<bucket>/, a directory whose path is the key cut
// into pieces of pieceLen bytes, each escaped into ASCII so that names
// sort as the raw keys do. Version files are named versionName(vid,
// time), which starts with versionMark (not ASCII): after every child
// node of the same directory, newest first. All of it is handled as the
// backend's own client (root); the requester's rights are checked on
// the bucket.

const (
	versionsDir = StagingDir + "/versions"
	pieceLen    = 80 // escaped, at most 240 bytes: within a name's 255
	versionMark = "\u00ff"
	// belowMarks sorts above every escaped piece and below versionMark.
	belowMarks = "\x7f\x7f"
)

// escapePiece maps a piece of a key (any bytes: a piece may cut a UTF-8
// sequence) to an ASCII file name that sorts as the piece does, through
// a prefix-free code that keeps byte order: '.' → ".\x01", '/' → ".~",
// 0x7f → "\x7f\x01", a byte b >= 0x80 → "\x7f" and two letters '@'+b>>4,
// '@'+b&15; every other byte is itself. No name is "." or ".." or holds
// '/' or NUL.
func escapePiece(raw string) string {
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == '.':
			b.WriteString(".\x01")
		case c == '/':
			b.WriteString(".~")
		case c == 0x7f:
			b.WriteString("\x7f\x01")
		case c >= 0x80:
			b.WriteByte(0x7f)
			b.WriteByte('@' + c>>4)
			b.WriteByte('@' + c&15)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func unescapePiece(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '.' && i+1 < len(name):
			if name[i+1] == '~' {
				b.WriteByte('/')
			} else {
				b.WriteByte('.')
			}
			i++
		case c == 0x7f && i+1 < len(name) && name[i+1] == 0x01:
			b.WriteByte(0x7f)
			i++
		case c == 0x7f && i+2 < len(name):
			b.WriteByte((name[i+1]-'@')<<4 | (name[i+2] - '@'))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func pieces(key string) []string {
	var ps []string
	for len(key) > pieceLen {
		ps = append(ps, key[:pieceLen])
		key = key[pieceLen:]
	}
	return append(ps, key)
}

func nodePath(bucket, key string) string {
	p := path.Join(versionsDir, bucket)
	for _, s := range pieces(key) {
		p += "/" + escapePiece(s)
	}
	return p
}

// newVersionID is 16 hex digits of the time (ns) and 8 random ones.
func newVersionID(t time.Time) string {
	var r [4]byte
	rand.Read(r[:])
	return fmt.Sprintf("%016x%s", uint64(t.UnixNano()), hex.EncodeToString(r[:]))
}

func versionTime(vid string) (time.Time, bool) {
	if len(vid) != 24 {
		return time.Time{}, false
	}
	ns, err := strconv.ParseUint(vid[:16], 16, 64)
	if err != nil {
		return time.Time{}, false
	}
	if _, err := hex.DecodeString(vid[16:]); err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, int64(ns)), true
}

func vidName(vid string) string {
	if vid == "" {
		return s3.NullVersion
	}
	return vid
}

// versionName names a stored version: by the time in its id, so the id
// finds it, or (the null version) by its last-modified time.
func versionName(vid string, lm time.Time) string {
	if t, ok := versionTime(vid); ok {
		lm = t
	}
	return fmt.Sprintf("%s%016x%s", versionMark, ^uint64(lm.UnixNano()), vidName(vid))
}

// versioning is the bucket's versioning state ("" when never enabled).
// It costs one xattr read: every write to a bucket pays it.
func (b *Backend) versioning(ctx context.Context, bucket string) string {
	raw, err := b.c.WithContext(ctx).GetXattr(bucketPath(bucket), XattrConfigPrefix+s3.ConfVersioning)
	if err != nil {
		return ""
	}
	return string(raw)
}

// stored is one version file of a node.
type stored struct {
	path string
	attr shoal.Attr
	meta objectMeta
}

func (s *stored) info(key string) s3.ObjectInfo {
	oi := s3.ObjectInfo{Key: key, Size: s.attr.Size, LastModified: s.attr.Mtime, Meta: s.meta.s3Meta(), ETag: s.meta.ETag,
		ChecksumAlgorithm: checksum.Algorithm(s.meta.ChecksumAlg), Checksum: s.meta.Checksum, PartSizes: s.meta.PartSizes,
		VersionID: s.meta.VersionID, DeleteMarker: s.meta.DeleteMarker, Lock: s.meta.lock()}
	if oi.DeleteMarker {
		oi.Size = 0
	}
	return oi
}

// nodeVersions lists the stored versions of key, newest first.
func (b *Backend) nodeVersions(root *shoal.Client, bucket, key string) ([]stored, error) {
	node := nodePath(bucket, key)
	var out []stored
	after := belowMarks
	for {
		ents, err := root.ListNames(node, after, 1000, XattrObject)
		if errors.Is(err, fs.ErrNotExist) || fserr.Is(fserr.NotDir, err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if !strings.HasPrefix(e.Name, versionMark) || !e.Attr.Mode.IsRegular() {
				continue
			}
			s := stored{path: node + "/" + e.Name, attr: e.Attr}
			json.Unmarshal(e.Xattr, &s.meta)
			out = append(out, s)
		}
		if len(ents) < 1000 {
			return out, nil
		}
		after = ents[len(ents)-1].Name
	}
}

// findStored returns the stored version vid (NullVersion for null).
func (b *Backend) findStored(root *shoal.Client, bucket, key, vid string) (*stored, error) {
	if t, ok := versionTime(vid); ok {
		p := nodePath(bucket, key) + "/" + versionName(vid, t)
		a, err := stat(root, p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || fserr.Is(fserr.NotDir, err) {
				return nil, nil
			}
			return nil, err
		}
		s := &stored{path: p, attr: a}
		raw, err := root.GetXattr(p, XattrObject)
		if err == nil {
			json.Unmarshal(raw, &s.meta)
		}
		return s, nil
	}
	if vid != s3.NullVersion {
		return nil, nil
	}
	vs, err := b.nodeVersions(root, bucket, key)
	if err != nil {
		return nil, err
	}
	for i := range vs {
		if vs[i].meta.VersionID == "" {
			return &vs[i], nil
		}
	}
	return nil, nil
}

// store makes a stored version of key: from the file at src (cloned,
// sharing its blocks, or moved when move), or a delete marker when src
// is "". m is its metadata; lm its last-modified time.
func (b *Backend) store(op string, root *shoal.Client, bucket, key, src string, move bool, m objectMeta, lm time.Time) (string, error) {
	node := nodePath(bucket, key)
	if err := root.MkdirAll(strings.TrimPrefix(node, "/"), 0o700); err != nil {
		return "", fserr.E(op, key, err)
	}
	p := node + "/" + versionName(m.VersionID, lm)
	var err error
	switch {
	case src == "":
		var f *shoal.File
		if f, err = root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err == nil {
			err = f.Close()
		}
	case move:
		err = root.Rename(src, p)
	default:
		// The clone keeps the source's owner, so the version, if it
		// becomes the latest again, is its writer's as before.
		var sa shoal.Attr
		if sa, err = stat(root, src); err == nil {
			if err = root.CloneFile(src, p); err == nil {
				err = root.Lchown(p, int(sa.Uid), int(sa.Gid))
			}
		}
	}
	if err == nil {
		err = root.Chtimes(p, lm, lm)
	}
	if err == nil {
		var a shoal.Attr
		if a, err = stat(root, p); err == nil {
			m.Size, m.Mtime = a.Size, a.Mtime.UnixNano()
			raw, _ := json.Marshal(m)
			err = root.SetXattr(p, XattrObject, raw, 0)
		}
	}
	if err != nil {
		if !move {
			root.Remove(p)
		}
		return "", fserr.E(op, key, err)
	}
	return p, nil
}

// keepLatest runs before a write replaces the object at key on a
// versioned bucket: it stores the latest version (unless the write
// replaces the null version of a suspended bucket), drops a stored null
// version the write replaces, and returns the new version's id and an
// undo for a write that then fails. The caller holds the key's lock.
//
// The stored null version a suspended bucket's write replaces is removed
// only by commit, which the caller runs once the write is published: a
// write that fails (a permission, a condition, an I/O error) must leave
// the versions as they were.
func (b *Backend) keepLatest(ctx context.Context, op string, c *shoal.Client, bucket, key string) (vid string, undo, commit func(), err error) {
	undo, commit = func() {}, func() {}
	state := b.versioning(ctx, bucket)
	if state == "" || strings.HasSuffix(key, "/") {
		return "", undo, commit, nil
	}
	root := b.c.WithContext(ctx)
	now := b.opts.Now()
	if state == "Enabled" {
		vid = newVersionID(now)
	}
	a, cur, lerr := b.lookup(op, c, bucket, key)
	if lerr == nil && !a.Mode.IsDir() && (state == "Enabled" || cur.VersionID != "") {
		m := versionMeta(cur)
		p, err := b.store(op, root, bucket, key, objPath(bucket, key), false, m, a.Mtime)
		if err != nil {
			return "", undo, commit, err
		}
		undo = func() { root.Remove(p) }
	}
	if state != "Enabled" {
		if s, err := b.findStored(root, bucket, key, s3.NullVersion); err == nil && s != nil {
			commit = func() { root.Remove(s.path) }
		}
	}
	return vid, undo, commit, nil
}

// canRead checks the requester may list the bucket, which reading its
// stored versions requires; canWrite that it owns the bucket (or is root).
func (b *Backend) canRead(op string, c *shoal.Client, bucket string) error {
	if _, err := c.ListNames(bucketPath(bucket), "", 1, ""); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return noBucket(op, bucket)
		}
		return fserr.E(op, bucket, err)
	}
	return nil
}

func (b *Backend) canWrite(op string, c *shoal.Client, id s3.Identity, bucket string) error {
	a, _, err := b.bucketMeta(op, c, bucket)
	if err != nil {
		return err
	}
	if id.Uid != 0 && a.Uid != id.Uid {
		return fserr.E(op, bucket, fserr.Permission)
	}
	return nil
}

func noVersion(op, vid string) error { return fserr.E(op, vid, fserr.NotExist, s3.ErrNoSuchVersion) }

func (b *Backend) HeadVersion(ctx context.Context, id s3.Identity, bucket, key, vid string) (s3.ObjectInfo, error) {
	const op = "shoalfs.HeadVersion"
	if err := checkKey(op, key); err != nil {
		return s3.ObjectInfo{}, err
	}
	c := b.as(ctx, id)
	_, cur, err := b.lookup(op, c, bucket, key)
	switch {
	case err == nil && (vid == "" || vidName(cur.VersionID) == vid):
		cur.IsLatest = true
		return cur, nil
	case err != nil && !errors.Is(err, s3.ErrNoSuchKey):
		return s3.ObjectInfo{}, err
	}
	if err := b.canRead(op, c, bucket); err != nil {
		return s3.ObjectInfo{}, err
	}
	root := b.c.WithContext(ctx)
	if vid == "" {
		vs, err := b.nodeVersions(root, bucket, key)
		if err != nil {
			return s3.ObjectInfo{}, fserr.E(op, key, err)
		}
		if len(vs) > 0 && vs[0].meta.DeleteMarker {
			oi := vs[0].info(key)
			oi.IsLatest = true
			return oi, nil
		}
		return s3.ObjectInfo{}, noKey(op, key)
	}
	s, err := b.findStored(root, bucket, key, vid)
	if err != nil {
		return s3.ObjectInfo{}, fserr.E(op, key, err)
	}
	if s == nil {
		return s3.ObjectInfo{}, noVersion(op, vid)
	}
	return s.info(key), nil
}

func (b *Backend) GetVersion(ctx context.Context, id s3.Identity, bucket, key, vid string) (*s3.Object, error) {
	const op = "shoalfs.GetVersion"
	oi, err := b.HeadVersion(ctx, id, bucket, key, vid)
	if err != nil {
		return nil, err
	}
	if oi.IsLatest && !oi.DeleteMarker {
		o, err := b.GetObject(ctx, id, bucket, key)
		if err == nil && o.Info.VersionID == oi.VersionID {
			return o, nil
		}
		if o != nil {
			o.Body.Close()
		}
		if err != nil && !errors.Is(err, s3.ErrNoSuchKey) {
			return nil, err
		}
		// Replaced meanwhile: the version is now a stored one.
	}
	if oi.DeleteMarker {
		return &s3.Object{Info: oi, Body: emptyBody{strings.NewReader("")}}, nil
	}
	root := b.c.WithContext(ctx)
	s, err := b.findStored(root, bucket, key, vidName(oi.VersionID))
	if err != nil {
		return nil, fserr.E(op, key, err)
	}
	if s == nil {
		return nil, noVersion(op, vid)
	}
	f, err := root.OpenFile(s.path, os.O_RDONLY, 0)
	if err != nil {
		return nil, fserr.E(op, key, err)
	}
	return &s3.Object{Info: s.info(key), Body: f}, nil
}

func (b *Backend) DeleteVersion(ctx context.Context, id s3.Identity, bucket, key, vid string, allow func(s3.ObjectInfo) error) (s3.ObjectInfo, error) {
	const op = "shoalfs.DeleteVersion"
	if err := checkKey(op, key); err != nil {
		return s3.ObjectInfo{}, err
	}
	state := b.versioning(ctx, bucket)
	if state == "" && (vid == "" || vid == s3.NullVersion) || strings.HasSuffix(key, "/") {
		return s3.ObjectInfo{}, b.DeleteObject(ctx, id, bucket, key)
	}
	c := b.as(ctx, id)
	root := b.c.WithContext(ctx)
	unlock := b.lockKey(bucket, key)
	defer unlock()
	a, cur, err := b.lookup(op, c, bucket, key)
	hasCur := err == nil && !a.Mode.IsDir()
	if err != nil && !errors.Is(err, s3.ErrNoSuchKey) {
		return s3.ObjectInfo{}, err
	}
	if vid == "" {
		// A delete marker becomes the latest version. On a suspended
		// bucket it replaces the stored null version, which goes only
		// once the requester proved it may write and the marker is
		// stored: a refused or failed delete changes no version.
		dropNull := func() {}
		if state == "Suspended" {
			if s, err := b.findStored(root, bucket, key, s3.NullVersion); err == nil && s != nil {
				dropNull = func() { root.Remove(s.path) }
			}
		}
		if hasCur {
			if state == "Suspended" && cur.VersionID == "" {
				if err := c.Remove(objPath(bucket, key)); err != nil {
					return s3.ObjectInfo{}, fserr.E(op, key, err)
				}
			} else {
				if err := b.canWrite(op, c, id, bucket); err != nil {
					return s3.ObjectInfo{}, err
				}
				m := versionMeta(cur)
				if _, err := b.store(op, root, bucket, key, objPath(bucket, key), true, m, a.Mtime); err != nil {
					return s3.ObjectInfo{}, err
				}
			}
			b.prune(c, bucket, key)
		} else if err := b.canWrite(op, c, id, bucket); err != nil {
			return s3.ObjectInfo{}, err
		}
		now := b.opts.Now()
		dm := objectMeta{DeleteMarker: true}
		if state == "Enabled" {
			dm.VersionID = newVersionID(now)
		}
		if _, err := b.store(op, root, bucket, key, "", false, dm, now); err != nil {
			return s3.ObjectInfo{}, err
		}
		dropNull()
		return s3.ObjectInfo{Key: key, VersionID: dm.VersionID, DeleteMarker: true, LastModified: now}, nil
	}
	if err := b.canWrite(op, c, id, bucket); err != nil {
		return s3.ObjectInfo{}, err
	}
	if allow == nil {
		allow = func(s3.ObjectInfo) error { return nil }
	}
	if hasCur && vidName(cur.VersionID) == vid {
		if err := allow(cur); err != nil {
			return s3.ObjectInfo{}, err
		}
		if err := c.Remove(objPath(bucket, key)); err != nil {
			return s3.ObjectInfo{}, fserr.E(op, key, err)
		}
		if err := b.promote(op, c, root, bucket, key); err != nil {
			return s3.ObjectInfo{}, err
		}
		if _, err := stat(c, objPath(bucket, key)); err != nil {
			b.prune(c, bucket, key)
		}
		return cur, nil
	}
	s, err := b.findStored(root, bucket, key, vid)
	if err != nil {
		return s3.ObjectInfo{}, fserr.E(op, key, err)
	}
	if s == nil {
		// S3 answers success for a version that is not there.
		return s3.ObjectInfo{Key: key, VersionID: vid}, nil
	}
	if err := allow(s.info(key)); err != nil {
		return s3.ObjectInfo{}, err
	}
	if err := root.Remove(s.path); err != nil {
		return s3.ObjectInfo{}, fserr.E(op, key, err)
	}
	if !hasCur {
		if err := b.promote(op, c, root, bucket, key); err != nil {
			return s3.ObjectInfo{}, err
		}
	}
	b.pruneNode(root, bucket, key)
	return s.info(key), nil
}

// promote makes the newest stored version of key the latest: a version
// goes back to the key's path; a delete marker stays (the key is absent).
func (b *Backend) promote(op string, c, root *shoal.Client, bucket, key string) error {
	vs, err := b.nodeVersions(root, bucket, key)
	if err != nil {
		return fserr.E(op, key, err)
	}
	if len(vs) == 0 || vs[0].meta.DeleteMarker {
		b.pruneNode(root, bucket, key)
		return nil
	}
	made, err := b.mkdirs(op, c, bucket, key)
	if err != nil {
		return err
	}
	if err := root.Rename(vs[0].path, objPath(bucket, key)); err != nil {
		b.rmdirs(c, made)
		return fserr.E(op, key, err)
	}
	b.pruneNode(root, bucket, key)
	return nil
}

// pruneNode removes the node directories of key that are left empty.
func (b *Backend) pruneNode(root *shoal.Client, bucket, key string) {
	p := nodePath(bucket, key)
	for p != versionsDir && p != "/" {
		if root.Remove(p) != nil {
			return
		}
		p = path.Dir(p)
	}
}

var _ s3.Versioner = (*Backend)(nil)

// ---- ListObjectVersions: the bucket's latest versions (the walk of
// list.go, through List) merged by key with the version store's walk.

type vframe struct {
	dir, prefix string // node directory and the key it stands for
	after       string
	buf         []shoal.NameEntry
	done, seen  bool // seen: the node's own versions were visited
}

// vwalker visits the nodes of the version store in key order, from pos.
type vwalker struct {
	b      *Backend
	root   *shoal.Client
	bucket string
	pos    string
	incl   bool
	stack  []*vframe
}

func (b *Backend) newVWalker(root *shoal.Client, bucket, pos string, incl bool) *vwalker {
	w := &vwalker{b: b, root: root, bucket: bucket, pos: pos, incl: incl}
	w.stack = []*vframe{w.frame(path.Join(versionsDir, bucket), "")}
	w.stack[0].seen = true // the store's root is no key
	return w
}

func (w *vwalker) frame(dir, prefix string) *vframe {
	f := &vframe{dir: dir, prefix: prefix}
	if strings.HasPrefix(w.pos, prefix) && len(w.pos) > len(prefix) {
		// Children below pos's next piece hold only earlier keys.
		p := w.pos[len(prefix):]
		if len(p) > pieceLen {
			p = p[:pieceLen]
		}
		f.after = before(escapePiece(p))
	}
	return f
}

func (w *vwalker) wants(key string) bool { return key > w.pos || w.incl && key == w.pos }

// next returns the next key with stored versions, newest first.
func (w *vwalker) next() (string, []stored, bool, error) {
	for len(w.stack) > 0 {
		f := w.stack[len(w.stack)-1]
		if !f.seen {
			f.seen = true
			if w.wants(f.prefix) {
				vs, err := w.b.nodeVersions(w.root, w.bucket, f.prefix)
				if err != nil {
					return "", nil, false, err
				}
				if len(vs) > 0 {
					return f.prefix, vs, true, nil
				}
			}
		}
		if len(f.buf) == 0 && !f.done {
			ents, err := w.root.ListNames(f.dir, f.after, 1000, "")
			if err != nil && !errors.Is(err, fs.ErrNotExist) && !fserr.Is(fserr.NotDir, err) {
				return "", nil, false, err
			}
			if len(ents) < 1000 {
				f.done = true
			}
			if len(ents) > 0 {
				f.after = ents[len(ents)-1].Name
			}
			f.buf = ents
		}
		if len(f.buf) == 0 {
			w.stack = w.stack[:len(w.stack)-1]
			continue
		}
		e := f.buf[0]
		f.buf = f.buf[1:]
		if strings.HasPrefix(e.Name, versionMark) {
			f.buf, f.done = nil, true // versions sort last: no child follows
			continue
		}
		if !e.Attr.Mode.IsDir() {
			continue
		}
		k := f.prefix + unescapePiece(e.Name)
		if k < w.pos && !strings.HasPrefix(w.pos, k) {
			continue
		}
		w.stack = append(w.stack, w.frame(f.dir+"/"+e.Name, k))
	}
	return "", nil, false, nil
}

// prefixAfter returns the smallest string above every string with prefix p.
func prefixAfter(p string) (string, bool) {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xff {
			return p[:i] + string(p[i]+1), true
		}
	}
	return "", false
}

// vitem is one entry of a merged stream: a key or a common prefix.
type vitem struct {
	key    string
	prefix bool
	cur    *s3.ObjectInfo
	vs     []stored
}

func (b *Backend) ListVersions(ctx context.Context, id s3.Identity, bucket string, in s3.ListVersionsInput) (s3.VersionsPage, error) {
	const op = "shoalfs.ListVersions"
	var page s3.VersionsPage
	max := in.Max
	if max <= 0 || max > 1000 {
		max = 1000
	}
	pos, incl := in.Prefix, true
	if in.KeyMarker >= in.Prefix && in.KeyMarker != "" {
		pos, incl = in.KeyMarker, in.VersionIDMarker != ""
	}
	root := b.c.WithContext(ctx)
	fold := func(k string) (string, bool) {
		if in.Delimiter == "" {
			return "", false
		}
		if i := strings.Index(k[len(in.Prefix):], in.Delimiter); i >= 0 {
			return k[:len(in.Prefix)+i+len(in.Delimiter)], true
		}
		return "", false
	}
	inRange := func(k string) bool { return strings.HasPrefix(k, in.Prefix) }

	// Stream A: the latest versions, a List page at a time.
	var abuf []vitem
	aAfter, aDone := pos, false
	if incl {
		aAfter = before(pos)
	}
	peekA := func() (*vitem, error) {
		for len(abuf) == 0 && !aDone {
			lp, err := b.List(ctx, id, bucket, s3.ListInput{Prefix: in.Prefix, Delimiter: in.Delimiter, StartAfter: aAfter, Max: 1000})
			if err != nil {
				return nil, err
			}
			oi, ci := 0, 0
			for oi < len(lp.Objects) || ci < len(lp.CommonPrefixes) {
				if ci == len(lp.CommonPrefixes) || oi < len(lp.Objects) && lp.Objects[oi].Key < lp.CommonPrefixes[ci] {
					o := lp.Objects[oi]
					abuf = append(abuf, vitem{key: o.Key, cur: &o})
					oi++
				} else {
					abuf = append(abuf, vitem{key: lp.CommonPrefixes[ci], prefix: true})
					ci++
				}
			}
			aDone, aAfter = !lp.Truncated, lp.Next
		}
		if len(abuf) == 0 {
			return nil, nil
		}
		return &abuf[0], nil
	}
	// Stream B: the version store, folded the same way.
	w := b.newVWalker(root, bucket, pos, incl)
	var bnext *vitem
	peekB := func() (*vitem, error) {
		for bnext == nil {
			k, vs, ok, err := w.next()
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, nil
			}
			if !inRange(k) {
				if k > in.Prefix {
					w.stack = nil // past the prefix
				}
				continue
			}
			if cp, ok := fold(k); ok {
				bnext = &vitem{key: cp, prefix: true}
				if end, ok := prefixAfter(cp); ok {
					w = b.newVWalker(root, bucket, end, true)
				} else {
					w.stack = nil
				}
				continue
			}
			bnext = &vitem{key: k, vs: vs}
		}
		return bnext, nil
	}

	count := 0
	var lastKey, lastVid string
	for {
		a, err := peekA()
		if err != nil {
			return page, err
		}
		bb, err := peekB()
		if err != nil {
			return page, fserr.E(op, bucket, err)
		}
		if a == nil && bb == nil {
			return page, nil
		}
		var it vitem
		switch {
		case bb == nil || a != nil && a.key < bb.key:
			it, abuf = *a, abuf[1:]
		case a == nil || bb.key < a.key:
			it, bnext = *bb, nil
		default: // the same key or prefix in both
			it = *a
			it.vs = bb.vs
			abuf, bnext = abuf[1:], nil
		}
		if count == max {
			page.Truncated, page.NextKeyMarker, page.NextVersionIDMarker = true, lastKey, lastVid
			return page, nil
		}
		if it.prefix {
			if len(page.CommonPrefixes) == 0 || page.CommonPrefixes[len(page.CommonPrefixes)-1] != it.key {
				page.CommonPrefixes = append(page.CommonPrefixes, it.key)
				count++
				lastKey, lastVid = it.key, ""
			}
			continue
		}
		var entries []s3.ObjectInfo
		if it.cur != nil {
			c := *it.cur
			c.IsLatest = true
			entries = append(entries, c)
		}
		for i, s := range it.vs {
			oi := s.info(it.key)
			oi.IsLatest = it.cur == nil && i == 0
			entries = append(entries, oi)
		}
		if it.key == in.KeyMarker && in.VersionIDMarker != "" {
			for i, e := range entries {
				if vidName(e.VersionID) == in.VersionIDMarker {
					entries = entries[i+1:]
					break
				}
			}
		}
		for _, e := range entries {
			if count == max {
				page.Truncated, page.NextKeyMarker, page.NextVersionIDMarker = true, lastKey, lastVid
				return page, nil
			}
			page.Versions = append(page.Versions, e)
			count++
			lastKey, lastVid = it.key, vidName(e.VersionID)
		}
	}
}

// PutVersionLock implements s3.Locker: the lock is part of the version
// file's user.s3.object xattr (the latest at the key's path, older ones
// in the key's node), so it moves with the version when it is stored,
// promoted or listed.
func (b *Backend) PutVersionLock(ctx context.Context, id s3.Identity, bucket, key, vid string, change func(cur s3.ObjectInfo) (s3.ObjectLock, error)) (s3.ObjectInfo, error) {
	return b.changeVersion(ctx, "shoalfs.PutVersionLock", id, bucket, key, vid, func(oi *s3.ObjectInfo, m *objectMeta) error {
		l, err := change(*oi)
		if err != nil {
			return err
		}
		m.setLock(l)
		oi.Lock = l
		return nil
	})
}

// PutVersionTags implements s3.Versioner: the tags, like the lock, are
// part of the version file's xattr.
func (b *Backend) PutVersionTags(ctx context.Context, id s3.Identity, bucket, key, vid string, tags []s3.Tag) (s3.ObjectInfo, error) {
	return b.changeVersion(ctx, "shoalfs.PutVersionTags", id, bucket, key, vid, func(oi *s3.ObjectInfo, m *objectMeta) error {
		m.Tags = append([]s3.Tag(nil), tags...)
		oi.Meta.Tags = m.Tags
		return nil
	})
}

// PutObjectACL implements s3.ACLKeeper: the grants live in the
// version's user.s3.object xattr, so they survive restarts.
func (b *Backend) PutObjectACL(ctx context.Context, id s3.Identity, bucket, key, vid string, grants []s3.Grant) (s3.ObjectInfo, error) {
	return b.changeVersion(ctx, "shoalfs.PutObjectACL", id, bucket, key, vid, func(oi *s3.ObjectInfo, m *objectMeta) error {
		m.ACL = append([]s3.Grant(nil), grants...)
		oi.Meta.ACL = m.ACL
		return nil
	})
}

// changeVersion rewrites the user.s3.object xattr of version vid ("" the
// latest) of key with change, under the key's lock, as the bucket's
// owner may.
func (b *Backend) changeVersion(ctx context.Context, op string, id s3.Identity, bucket, key, vid string, change func(oi *s3.ObjectInfo, m *objectMeta) error) (s3.ObjectInfo, error) {
	if err := checkKey(op, key); err != nil {
		return s3.ObjectInfo{}, err
	}
	c := b.as(ctx, id)
	root := b.c.WithContext(ctx)
	unlock := b.lockKey(bucket, key)
	defer unlock()
	if err := b.canWrite(op, c, id, bucket); err != nil {
		return s3.ObjectInfo{}, err
	}
	var p string
	var oi s3.ObjectInfo
	a, cur, err := b.lookup(op, c, bucket, key)
	switch {
	case err == nil && !a.Mode.IsDir() && (vid == "" || vidName(cur.VersionID) == vid):
		p, oi = objPath(bucket, key), cur
	case err != nil && !errors.Is(err, s3.ErrNoSuchKey):
		return s3.ObjectInfo{}, err
	case vid == "":
		return s3.ObjectInfo{}, noKey(op, key)
	default:
		s, err := b.findStored(root, bucket, key, vid)
		if err != nil {
			return s3.ObjectInfo{}, fserr.E(op, key, err)
		}
		if s == nil {
			return s3.ObjectInfo{}, noVersion(op, vid)
		}
		p, oi = s.path, s.info(key)
	}
	raw, err := root.GetXattr(p, XattrObject)
	if err != nil && !fserr.Is(fserr.NoData, err) {
		return s3.ObjectInfo{}, fserr.E(op, key, err)
	}
	var m objectMeta
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			return s3.ObjectInfo{}, fserr.E(op, key, err)
		}
	} else {
		// A file written outside S3: its stamp stays unset so its
		// ETag is still the derived one.
		m.ETag = oi.ETag
	}
	if err := change(&oi, &m); err != nil {
		return s3.ObjectInfo{}, err
	}
	if raw, err = json.Marshal(m); err == nil {
		err = root.SetXattr(p, XattrObject, raw, 0)
	}
	if err != nil {
		return s3.ObjectInfo{}, fserr.E(op, key, err)
	}
	return oi, nil
}
