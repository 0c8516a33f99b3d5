package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shoalfs/shoal/internal/s3/checksum"
)

// S3's size limits.
const (
	MaxObjectSize = 5 << 40 // 5 TiB
	MaxPutSize    = 5 << 30 // single PUT and part
	MinPartSize   = 5 << 20 // every part but the last
	MaxParts      = 10000
	maxUserMeta   = 2 << 10
)

func drain(r io.Reader) (int64, error) { return io.Copy(io.Discard, io.LimitReader(r, maxXMLBody)) }

// metaFromHeaders reads the stored metadata from request headers.
func metaFromHeaders(h http.Header) (ObjectMeta, error) {
	m := ObjectMeta{
		ContentType:        h.Get("Content-Type"),
		ContentDisposition: h.Get("Content-Disposition"),
		ContentLanguage:    h.Get("Content-Language"),
		CacheControl:       h.Get("Cache-Control"),
		Expires:            h.Get("Expires"),
	}
	m.ContentEncoding = contentEncoding(h.Get("Content-Encoding"))
	size := 0
	for k, vs := range h {
		lk := strings.ToLower(k)
		if name, ok := strings.CutPrefix(lk, "x-amz-meta-"); ok && name != "" {
			if m.User == nil {
				m.User = map[string]string{}
			}
			m.User[name] = strings.Join(vs, ",")
			size += len(name) + len(m.User[name])
		}
	}
	if size > maxUserMeta {
		return m, apiErr("MetadataTooLarge", 400, "Your metadata headers exceed the maximum allowed metadata size.")
	}
	tags, err := parseTaggingHeader(h.Get("X-Amz-Tagging"))
	if err != nil {
		return m, err
	}
	m.Tags = tags
	return m, nil
}

// contentEncoding is the Content-Encoding to store: the header as sent,
// byte for byte, but for aws-chunked, which is transfer framing (SigV4
// streaming), not the object's encoding.
func contentEncoding(v string) string {
	parts := strings.Split(v, ",")
	kept := parts[:0]
	for _, e := range parts {
		if !strings.EqualFold(strings.TrimSpace(e), "aws-chunked") {
			kept = append(kept, e)
		}
	}
	if len(kept) == len(parts) {
		return v
	}
	return strings.TrimSpace(strings.Join(kept, ","))
}

func writeCond(h http.Header) (WriteCond, error) {
	var c WriteCond
	if inm := h.Get("If-None-Match"); inm != "" {
		for _, e := range strings.Split(inm, ",") {
			switch e = strings.TrimSpace(e); e {
			case "":
			case "*":
				c.IfNoneMatchStar = true
			default:
				c.IfNoneMatch = append(c.IfNoneMatch, unquoteETag(e))
			}
		}
	}
	if im := h.Get("If-Match"); im != "" {
		c.IfMatch = unquoteETag(im)
	}
	return c, nil
}

// digestReader hashes the body for the ETag and checks Content-MD5 before
// it lets io.EOF through.
type digestReader struct {
	r       io.Reader
	md5     hash.Hash
	wantMD5 []byte
	n, size int64 // size -1: unknown, at most max
	max     int64
}

func (d *digestReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.md5.Write(p[:n])
	d.n += int64(n)
	if d.size < 0 && d.n > d.max {
		return n, errEntityTooLarge
	}
	if err == io.EOF {
		if d.size >= 0 && d.n != d.size {
			return n, errIncompleteBody
		}
		if d.wantMD5 != nil && !bytes.Equal(d.md5.Sum(nil), d.wantMD5) {
			return n, errBadDigest
		}
	}
	return n, err
}

func chunkedTransfer(r *http.Request) bool {
	for _, te := range r.TransferEncoding {
		if strings.EqualFold(te, "chunked") {
			return true
		}
	}
	return false
}

// putInput builds the streaming input of a PutObject or UploadPart.
func (req *request) putInput(maxSize int64) (PutInput, error) {
	size := req.auth.Length
	// A chunked Transfer-Encoding carries no length: the body is read to
	// its end, and cut off past maxSize.
	if size < 0 && !chunkedTransfer(req.r) {
		return PutInput{}, errMissingContentLength
	}
	if size > maxSize {
		return PutInput{}, errEntityTooLarge
	}
	d := &digestReader{r: req.auth.Body, md5: md5.New(), size: size, max: maxSize}
	if cm := req.r.Header.Get("Content-Md5"); cm != "" {
		b, err := base64.StdEncoding.DecodeString(cm)
		if err != nil || len(b) != md5.Size {
			return PutInput{}, errInvalidDigest
		}
		d.wantMD5 = b
	}
	auth := req.auth
	return PutInput{
		Body: d,
		Size: size,
		Digest: func() Digest {
			alg, v := auth.Checksum()
			return Digest{MD5: hex.EncodeToString(d.md5.Sum(nil)), ChecksumAlgorithm: alg, Checksum: v}
		},
	}, nil
}

func (req *request) putObject(ctx context.Context) error {
	in, err := req.putInput(MaxPutSize)
	if err != nil {
		return err
	}
	acl, err := req.objectGrants(ctx)
	if err != nil {
		return err
	}
	if in.Meta, err = metaFromHeaders(req.r.Header); err != nil {
		return err
	}
	in.Meta.ACL = acl
	cond, err := writeCond(req.r.Header)
	if err != nil {
		return err
	}
	lock, locked, err := req.requestedLock(ctx)
	if err != nil {
		return err
	}
	info, err := req.g.be.PutObject(ctx, req.id, req.rt.Bucket, req.rt.Key, in, cond)
	if err != nil {
		return err
	}
	if locked {
		if err := req.applyLock(ctx, lock, &info); err != nil {
			return err
		}
	}
	req.setVersionHeaders(info, false)
	h := req.w.Header()
	h.Set("ETag", quoteETag(info.ETag))
	if info.Checksum != "" {
		h.Set(info.ChecksumAlgorithm.Header(), info.Checksum)
		h.Set("x-amz-checksum-type", checksumType(info.Checksum))
	}
	return req.ok()
}

// byteRange is a resolved [off, off+n) of an object.
type byteRange struct{ off, n int64 }

// parseRange resolves a Range header against size. ok=false means the
// header is absent or not a single byte range (S3 then serves the whole
// object); an unsatisfiable range is errInvalidRange.
func parseRange(h string, size int64) (byteRange, bool, error) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return byteRange{}, false, nil
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return byteRange{}, false, nil
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return byteRange{}, false, nil
		}
		if n == 0 || size == 0 {
			return byteRange{}, false, errInvalidRange
		}
		n = min(n, size)
		return byteRange{size - n, n}, true, nil
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 {
		return byteRange{}, false, nil
	}
	end := size - 1
	if b != "" {
		if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
			return byteRange{}, false, nil
		}
	}
	if start >= size {
		return byteRange{}, false, errInvalidRange
	}
	end = min(end, size-1)
	return byteRange{start, end - start + 1}, true, nil
}

// checkConditions applies If-Match, If-Unmodified-Since, If-None-Match
// and If-Modified-Since in RFC 7232's order. It returns 304 or 412.
func checkConditions(h http.Header, etag string, mod time.Time, prefix string) (int, bool) {
	mod = mod.Truncate(time.Second)
	im, ius := h.Get(prefix+"If-Match"), h.Get(prefix+"If-Unmodified-Since")
	inm, ims := h.Get(prefix+"If-None-Match"), h.Get(prefix+"If-Modified-Since")
	if im != "" {
		if !etagListMatches(im, etag) {
			return http.StatusPreconditionFailed, false
		}
	} else if ius != "" {
		if t, err := http.ParseTime(ius); err == nil && mod.After(t) {
			return http.StatusPreconditionFailed, false
		}
	}
	if inm != "" {
		if etagListMatches(inm, etag) {
			return http.StatusNotModified, false
		}
	} else if ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !mod.After(t) {
			return http.StatusNotModified, false
		}
	}
	return 0, true
}

func etagListMatches(list, etag string) bool {
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if e == "*" || unquoteETag(e) == etag {
			return true
		}
	}
	return false
}

func (req *request) setObjectHeaders(info ObjectInfo) {
	h := req.w.Header()
	ct := info.Meta.ContentType
	if ct == "" {
		ct = "binary/octet-stream"
	}
	h.Set("Content-Type", ct)
	h.Set("ETag", quoteETag(info.ETag))
	h.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	for k, v := range map[string]string{
		"Content-Encoding": info.Meta.ContentEncoding, "Content-Disposition": info.Meta.ContentDisposition,
		"Content-Language": info.Meta.ContentLanguage, "Cache-Control": info.Meta.CacheControl, "Expires": info.Meta.Expires,
	} {
		if v != "" {
			h.Set(k, v)
		}
	}
	for k, v := range info.Meta.User {
		h["X-Amz-Meta-"+k] = []string{v}
	}
	if len(info.Meta.Tags) > 0 {
		h.Set("x-amz-tagging-count", strconv.Itoa(len(info.Meta.Tags)))
	}
	if len(info.PartSizes) > 0 {
		h.Set("x-amz-mp-parts-count", strconv.Itoa(len(info.PartSizes)))
	}
	h.Set("x-amz-storage-class", "STANDARD")
}

var responseOverrides = map[string]string{
	"response-content-type":        "Content-Type",
	"response-content-language":    "Content-Language",
	"response-expires":             "Expires",
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
}

func (req *request) getObject(ctx context.Context, head bool) error {
	q := req.r.URL.Query()
	var info ObjectInfo
	var obj *Object
	vid, err := req.versionID()
	if err != nil {
		return err
	}
	v, versioned := req.versioner()
	switch {
	case vid != "" && versioned:
		if head {
			info, err = v.HeadVersion(ctx, req.id, req.rt.Bucket, req.rt.Key, vid)
		} else if obj, err = v.GetVersion(ctx, req.id, req.rt.Bucket, req.rt.Key, vid); obj != nil {
			defer obj.Body.Close()
			info = obj.Info
		}
		if err == nil && info.DeleteMarker {
			// S3: a delete marker named by id is no object to read.
			req.setVersionHeaders(info, true)
			req.w.Header().Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
			return errMethodNotAllowed
		}
	case head:
		info, err = req.g.be.HeadObject(ctx, req.id, req.rt.Bucket, req.rt.Key)
	default:
		obj, err = req.g.be.GetObject(ctx, req.id, req.rt.Bucket, req.rt.Key)
		if obj != nil {
			defer obj.Body.Close()
			info = obj.Info
		}
	}
	if err != nil {
		if versioned && vid == "" && errors.Is(err, ErrNoSuchKey) {
			// The latest version may be a delete marker: say so.
			if dm, herr := v.HeadVersion(ctx, req.id, req.rt.Bucket, req.rt.Key, ""); herr == nil && dm.DeleteMarker {
				req.setVersionHeaders(dm, true)
			}
		}
		return err
	}
	req.setVersionHeaders(info, false)
	setLockHeaders(req.w.Header(), info.Lock)
	if status, ok := checkConditions(req.r.Header, info.ETag, info.LastModified, ""); !ok {
		if status == http.StatusPreconditionFailed {
			return errPreconditionFailed
		}
		h := req.w.Header()
		h.Set("ETag", quoteETag(info.ETag))
		h.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
		req.w.WriteHeader(http.StatusNotModified)
		return nil
	}
	for qk := range responseOverrides {
		if q.Has(qk) && req.id.Anonymous() {
			return withMsg(errInvalidRequest, "Request specific response headers cannot be used for anonymous GET requests.")
		}
	}
	rng, partial := byteRange{0, info.Size}, false
	if pn := q.Get("partNumber"); pn != "" {
		if req.r.Header.Get("Range") != "" {
			return withMsg(errInvalidRequest, "Cannot specify both Range header and partNumber query parameter")
		}
		n, err := strconv.Atoi(pn)
		if err != nil || n < 1 || n > MaxParts {
			return withMsg(errInvalidArgument, "Part number must be an integer between 1 and 10000, inclusive")
		}
		sizes := info.PartSizes
		if len(sizes) == 0 {
			sizes = []int64{info.Size}
		}
		if n > len(sizes) {
			return errInvalidPartNumber
		}
		var off int64
		for _, s := range sizes[:n-1] {
			off += s
		}
		rng, partial = byteRange{off, sizes[n-1]}, true
	} else if rh := req.r.Header.Get("Range"); rh != "" {
		r, ok, err := parseRange(rh, info.Size)
		if err != nil {
			req.w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(info.Size, 10))
			return err
		}
		if ok {
			rng, partial = r, true
		}
	}
	req.setObjectHeaders(info)
	h := req.w.Header()
	if !partial && info.Checksum != "" && strings.EqualFold(req.r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") {
		h.Set(info.ChecksumAlgorithm.Header(), info.Checksum)
		h.Set("x-amz-checksum-type", checksumType(info.Checksum))
	}
	for qk, hk := range responseOverrides {
		if v := q.Get(qk); v != "" {
			h.Set(hk, v)
		}
	}
	h.Set("Content-Length", strconv.FormatInt(rng.n, 10))
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		end := rng.off + rng.n - 1
		if rng.n == 0 {
			end = rng.off
		}
		h.Set("Content-Range", "bytes "+strconv.FormatInt(rng.off, 10)+"-"+strconv.FormatInt(end, 10)+"/"+strconv.FormatInt(info.Size, 10))
	}
	req.w.WriteHeader(status)
	if head || rng.n == 0 {
		return nil
	}
	if _, err := io.Copy(req.w, io.NewSectionReader(obj.Body, rng.off, rng.n)); err != nil {
		// Headers are out: all we can do is cut the connection short.
		req.g.log.Debug("s3: get: body copy", "bucket", req.rt.Bucket, "key", req.rt.Key, "err", err)
	}
	return nil
}

func (req *request) deleteObject(ctx context.Context) error {
	vid, err := req.versionID()
	if err != nil {
		return err
	}
	info, err := req.deleteOne(ctx, req.rt.Key, vid)
	if err != nil {
		return err
	}
	if info.DeleteMarker || vid != "" {
		req.setVersionHeaders(info, true)
	}
	return req.noContent()
}

// deleteOne deletes key (version vid, "" for S3's plain delete): through
// the Versioner when the backend keeps versions.
func (req *request) deleteOne(ctx context.Context, key, vid string) (ObjectInfo, error) {
	if v, ok := req.versioner(); ok {
		info, err := v.DeleteVersion(ctx, req.id, req.rt.Bucket, key, vid, req.allowDelete(ctx, key))
		if errors.Is(err, ErrNoSuchKey) {
			err = nil
		}
		if vid != "" {
			info.VersionID = vid
			if vid == NullVersion {
				info.VersionID = ""
			}
		}
		return info, err
	}
	if vid != "" && vid != NullVersion {
		return ObjectInfo{}, withMsg(errInvalidArgument, "Invalid version id specified")
	}
	err := req.g.be.DeleteObject(ctx, req.id, req.rt.Bucket, key)
	if errors.Is(err, ErrNoSuchKey) {
		err = nil
	}
	return ObjectInfo{}, err
}

func (req *request) deleteObjects(ctx context.Context) error {
	var d deleteRequest
	if err := decodeXML(req.auth.Body, &d); err != nil {
		return err
	}
	if len(d.Objects) > 1000 {
		return withMsg(errMalformedXML, "The request must contain no more than 1000 keys.")
	}
	res := deleteResult{Xmlns: s3NS}
	for _, o := range d.Objects {
		var err error
		var info ObjectInfo
		if e := validateKey(o.Key); e != nil {
			err = e
		} else if req.policyDeniesKey(ctx, o.Key) {
			err = errAccessDenied
		} else {
			info, err = req.deleteOne(ctx, o.Key, o.VersionId)
		}
		if err != nil {
			ae := toAPIError(err)
			res.Error = append(res.Error, deleteErrorXML{Key: o.Key, VersionId: o.VersionId, Code: ae.Code, Message: ae.Message})
			continue
		}
		if !d.Quiet {
			dx := deletedXML{Key: o.Key, VersionId: o.VersionId}
			if info.DeleteMarker {
				dx.DeleteMarker = true
				if o.VersionId == "" {
					dx.DeleteMarkerVersionId = renderVersion(info.VersionID)
				}
			}
			res.Deleted = append(res.Deleted, dx)
		}
	}
	return req.writeXML(200, res)
}

// copySource parses x-amz-copy-source ("[/]bucket/key[?versionId=v]").
func copySource(h http.Header) (bucket, key, vid string, err error) {
	src := h.Get("X-Amz-Copy-Source")
	if i := strings.Index(src, "?"); i >= 0 {
		q, _ := url.ParseQuery(src[i+1:])
		src = src[:i]
		vid = q.Get("versionId")
	}
	src, uerr := url.PathUnescape(src)
	if uerr != nil {
		return "", "", "", withMsg(errInvalidArgument, "Invalid copy source encoding")
	}
	bucket, key, _ = strings.Cut(strings.TrimPrefix(src, "/"), "/")
	if !ValidBucket(bucket) || key == "" {
		return "", "", "", withMsg(errInvalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	}
	if e := validateKey(key); e != nil {
		return "", "", "", e
	}
	return bucket, key, vid, nil
}

// headSource describes a copy source, by version when one is named.
func (req *request) headSource(ctx context.Context, bucket, key, vid string) (ObjectInfo, error) {
	if vid == "" {
		return req.g.be.HeadObject(ctx, req.id, bucket, key)
	}
	v, ok := req.versioner()
	if !ok {
		if vid == NullVersion {
			return req.g.be.HeadObject(ctx, req.id, bucket, key)
		}
		return ObjectInfo{}, withMsg(errInvalidArgument, "Invalid version id specified")
	}
	info, err := v.HeadVersion(ctx, req.id, bucket, key, vid)
	if err == nil && info.DeleteMarker {
		return info, withMsg(errInvalidRequest, "The source of a copy request may not specifically refer to a delete marker by version id.")
	}
	return info, err
}

func (req *request) copyObject(ctx context.Context) error {
	sb, sk, svid, err := copySource(req.r.Header)
	if err != nil {
		return err
	}
	if err := req.sameBucketSource(sb); err != nil {
		return err
	}
	acl, err := req.objectGrants(ctx)
	if err != nil {
		return err
	}
	src, err := req.headSource(ctx, sb, sk, svid)
	if err != nil {
		return err
	}
	if _, ok := checkConditions(req.r.Header, src.ETag, src.LastModified, "X-Amz-Copy-Source-"); !ok {
		return errPreconditionFailed
	}
	in := CopyInput{SrcBucket: sb, SrcKey: sk, SrcETag: src.ETag, SrcVersionID: svid}
	if in.Cond, err = writeCond(req.r.Header); err != nil {
		return err
	}
	md := strings.ToUpper(req.r.Header.Get("X-Amz-Metadata-Directive"))
	td := strings.ToUpper(req.r.Header.Get("X-Amz-Tagging-Directive"))
	if (md != "" && md != "COPY" && md != "REPLACE") || (td != "" && td != "COPY" && td != "REPLACE") {
		return withMsg(errInvalidArgument, "Unknown metadata or tagging directive.")
	}
	reqMeta, err := metaFromHeaders(req.r.Header)
	if err != nil {
		return err
	}
	if md == "REPLACE" {
		m := reqMeta
		m.Tags = nil
		in.Meta = &m
	}
	if td == "REPLACE" {
		in.Tags, in.ReplaceTags = reqMeta.Tags, true
	}
	if sb == req.rt.Bucket && sk == req.rt.Key && md != "REPLACE" && td != "REPLACE" && svid == "" {
		return withMsg(errInvalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	lock, locked, err := req.requestedLock(ctx)
	if err != nil {
		return err
	}
	in.ACL = acl
	info, err := req.g.be.CopyObject(ctx, req.id, req.rt.Bucket, req.rt.Key, in)
	if err != nil {
		return err
	}
	if locked {
		if err := req.applyLock(ctx, lock, &info); err != nil {
			return err
		}
	}
	req.setVersionHeaders(info, false)
	if src.VersionID != "" {
		req.w.Header().Set("x-amz-copy-source-version-id", src.VersionID)
	}
	return req.writeXML(200, copyObjectResult{Xmlns: s3NS, LastModified: isoTime(info.LastModified), ETag: quoteETag(info.ETag)})
}

func (req *request) getObjectTagging(ctx context.Context) error {
	vid, err := req.versionID()
	if err != nil {
		return err
	}
	info, err := req.headSource(ctx, req.rt.Bucket, req.rt.Key, vid)
	if err != nil {
		return err
	}
	req.setVersionHeaders(info, vid != "")
	return req.writeXML(200, tagsXML(info.Meta.Tags))
}

// putTags replaces the tags of the object, or of the version the
// request names (an older one through the Versioner).
func (req *request) putTags(ctx context.Context, tags []Tag) error {
	vid, err := req.versionID()
	if err != nil {
		return err
	}
	if vid == "" {
		return req.g.be.PutObjectTags(ctx, req.id, req.rt.Bucket, req.rt.Key, tags)
	}
	info, err := req.headSource(ctx, req.rt.Bucket, req.rt.Key, vid)
	if info.DeleteMarker {
		return errMethodNotAllowed
	}
	if err != nil {
		return err
	}
	v, ok := req.versioner()
	if info.IsLatest || !ok {
		err = req.g.be.PutObjectTags(ctx, req.id, req.rt.Bucket, req.rt.Key, tags)
	} else {
		info, err = v.PutVersionTags(ctx, req.id, req.rt.Bucket, req.rt.Key, vid, tags)
	}
	if err != nil {
		return err
	}
	req.setVersionHeaders(info, true)
	return nil
}

func (req *request) putObjectTagging(ctx context.Context) error {
	if _, err := req.versionID(); err != nil {
		return err
	}
	tags, err := req.readTagging(maxObjectTags)
	if err != nil {
		return err
	}
	if err := req.putTags(ctx, tags); err != nil {
		return err
	}
	return req.ok()
}

func (req *request) deleteObjectTagging(ctx context.Context) error {
	if err := req.putTags(ctx, nil); err != nil {
		return err
	}
	return req.noContent()
}

// checksumType is COMPOSITE for a multipart object's combined checksum
// ("...-N"), else FULL_OBJECT.
func checksumType(v string) string {
	if strings.Contains(v, "-") {
		return "COMPOSITE"
	}
	return "FULL_OBJECT"
}

// objectParts is GetObjectAttributes' page of parts, selected by
// x-amz-max-parts and x-amz-part-number-marker.
func objectParts(h http.Header, sizes []int64) (*objectPartsXML, error) {
	max, marker := 1000, 0
	var err error
	if s := h.Get("X-Amz-Max-Parts"); s != "" {
		if max, err = strconv.Atoi(s); err != nil || max < 0 {
			return nil, withMsg(errInvalidArgument, "Invalid x-amz-max-parts")
		}
		max = min(max, 1000)
	}
	if s := h.Get("X-Amz-Part-Number-Marker"); s != "" {
		if marker, err = strconv.Atoi(s); err != nil || marker < 0 {
			return nil, withMsg(errInvalidArgument, "Invalid x-amz-part-number-marker")
		}
	}
	op := &objectPartsXML{PartsCount: len(sizes), PartNumberMarker: marker, MaxParts: max}
	for n := marker + 1; n <= len(sizes); n++ {
		if len(op.Parts) == max {
			op.IsTruncated = true
			break
		}
		op.Parts = append(op.Parts, objectPartXML{PartNumber: n, Size: sizes[n-1]})
		op.NextPartNumberMarker = n
	}
	return op, nil
}

func (req *request) getObjectAttributes(ctx context.Context) error {
	var want []string
	for _, v := range req.r.Header.Values("X-Amz-Object-Attributes") {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				want = append(want, a)
			}
		}
	}
	if len(want) == 0 {
		return withMsg(errInvalidArgument, "Missing required header for this request: x-amz-object-attributes")
	}
	info, err := req.g.be.HeadObject(ctx, req.id, req.rt.Bucket, req.rt.Key)
	if err != nil {
		return err
	}
	res := getObjectAttributesResponse{Xmlns: s3NS}
	for _, a := range want {
		switch a {
		case "ETag":
			res.ETag = info.ETag
		case "StorageClass":
			res.StorageClass = "STANDARD"
		case "ObjectSize":
			s := info.Size
			res.ObjectSize = &s
		case "ObjectParts":
			if len(info.PartSizes) > 0 {
				op, err := objectParts(req.r.Header, info.PartSizes)
				if err != nil {
					return err
				}
				res.ObjectParts = op
			}
		case "Checksum":
			if info.Checksum != "" {
				c := &checksumXML{ChecksumType: checksumType(info.Checksum)}
				switch info.ChecksumAlgorithm {
				case checksum.CRC32:
					c.ChecksumCRC32 = info.Checksum
				case checksum.CRC32C:
					c.ChecksumCRC32C = info.Checksum
				case checksum.CRC64NVME:
					c.ChecksumCRC64NVME = info.Checksum
				case checksum.SHA1:
					c.ChecksumSHA1 = info.Checksum
				case checksum.SHA256:
					c.ChecksumSHA256 = info.Checksum
				}
				res.Checksum = c
			}
		default:
			return withMsg(errInvalidArgument, "Invalid attribute name specified: "+a)
		}
	}
	req.w.Header().Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
	return req.writeXML(200, res)
}
