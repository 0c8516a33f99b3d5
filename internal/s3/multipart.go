package s3

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"

	"github.com/shoalfs/shoal/internal/s3/checksum"
)

func (req *request) createMultipart(ctx context.Context) error {
	meta, err := metaFromHeaders(req.r.Header)
	if err != nil {
		return err
	}
	if err := req.checkObjectACL(ctx, req.r.Header.Get("X-Amz-Acl")); err != nil {
		return err
	}
	for _, h := range []string{"X-Amz-Object-Lock-Mode", "X-Amz-Object-Lock-Retain-Until-Date", "X-Amz-Object-Lock-Legal-Hold"} {
		if req.r.Header.Get(h) != "" {
			// The upload would have to carry it to Complete; the
			// bucket's default retention still applies there.
			return withMsg(errNotImplemented, "Object lock headers on CreateMultipartUpload are not supported; set the retention after Complete.")
		}
	}
	if a := req.r.Header.Get("X-Amz-Checksum-Algorithm"); a != "" {
		alg, ok := checksum.Parse(a)
		if !ok {
			return withMsg(errInvalidRequest, "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
		}
		req.w.Header().Set("x-amz-checksum-algorithm", string(alg))
	}
	id, err := req.g.be.CreateMultipart(ctx, req.id, req.rt.Bucket, req.rt.Key, meta)
	if err != nil {
		return err
	}
	return req.writeXML(200, initiateMultipartUploadResult{Xmlns: s3NS, Bucket: req.rt.Bucket, Key: req.rt.Key, UploadId: id})
}

func partNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxParts {
		return 0, withMsg(errInvalidArgument, "Part number must be an integer between 1 and 10000, inclusive")
	}
	return n, nil
}

func (req *request) uploadPart(ctx context.Context, copy bool) error {
	q := req.r.URL.Query()
	uploadID := q.Get("uploadId")
	if uploadID == "" {
		return errNoSuchUpload
	}
	n, err := partNumber(q.Get("partNumber"))
	if err != nil {
		return err
	}
	if !copy {
		in, err := req.putInput(MaxPutSize)
		if err != nil {
			return err
		}
		p, err := req.g.be.PutPart(ctx, req.id, req.rt.Bucket, req.rt.Key, uploadID, n, in)
		if err != nil {
			return err
		}
		h := req.w.Header()
		h.Set("ETag", quoteETag(p.ETag))
		if alg, v := req.auth.Checksum(); v != "" {
			h.Set(alg.Header(), v)
		}
		return req.ok()
	}
	sb, sk, svid, err := copySource(req.r.Header)
	if err != nil {
		return err
	}
	if err := req.sameBucketSource(sb); err != nil {
		return err
	}
	if svid != "" && svid != NullVersion {
		return withMsg(errNotImplemented, "UploadPartCopy from an older version is not supported.")
	}
	src, err := req.g.be.HeadObject(ctx, req.id, sb, sk)
	if err != nil {
		return err
	}
	if _, ok := checkConditions(req.r.Header, src.ETag, src.LastModified, "X-Amz-Copy-Source-"); !ok {
		return errPreconditionFailed
	}
	off, length := int64(0), src.Size
	if rh := req.r.Header.Get("X-Amz-Copy-Source-Range"); rh != "" {
		if off, length, err = parseCopyRange(rh, src.Size); err != nil {
			return err
		}
	}
	if length > MaxPutSize {
		return errEntityTooLarge
	}
	p, err := req.g.be.CopyPart(ctx, req.id, req.rt.Bucket, req.rt.Key, uploadID, n, sb, sk, src.ETag, off, length)
	if err != nil {
		return err
	}
	return req.writeXML(200, copyPartResult{Xmlns: s3NS, LastModified: isoTime(p.LastModified), ETag: quoteETag(p.ETag)})
}

// parseCopyRange parses x-amz-copy-source-range, which S3 requires in
// the explicit form "bytes=first-last".
func parseCopyRange(h string, size int64) (off, n int64, err error) {
	bad := withMsg(errInvalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	a, b, ok2 := strings.Cut(spec, "-")
	start, e1 := strconv.ParseInt(a, 10, 64)
	end, e2 := strconv.ParseInt(b, 10, 64)
	if !ok || !ok2 || e1 != nil || e2 != nil || start < 0 || end < start {
		return 0, 0, bad
	}
	if end >= size {
		return 0, 0, withMsg(errInvalidRange, "The specified copy source range is not satisfiable")
	}
	return start, end - start + 1, nil
}

func (req *request) listParts(ctx context.Context) error {
	q := req.r.URL.Query()
	maxParts, err := parseMax(q, "max-parts", 1000)
	if err != nil {
		return err
	}
	marker := 0
	if m := q.Get("part-number-marker"); m != "" {
		if marker, err = strconv.Atoi(m); err != nil || marker < 0 {
			return withMsg(errInvalidArgument, "Invalid part-number-marker")
		}
	}
	uploadID := q.Get("uploadId")
	parts, truncated, err := req.g.be.ListParts(ctx, req.id, req.rt.Bucket, req.rt.Key, uploadID, marker, maxParts)
	if err != nil {
		return err
	}
	o := req.owner()
	res := listPartsResult{Xmlns: s3NS, Bucket: req.rt.Bucket, Key: req.rt.Key, UploadId: uploadID, Initiator: o, Owner: o,
		StorageClass: "STANDARD", PartNumberMarker: marker, MaxParts: maxParts, IsTruncated: truncated}
	for _, p := range parts {
		res.Parts = append(res.Parts, partXML{PartNumber: p.Number, LastModified: isoTime(p.LastModified), ETag: quoteETag(p.ETag), Size: p.Size})
		res.NextPartNumberMarker = p.Number
	}
	return req.writeXML(200, res)
}

func (req *request) listUploads(ctx context.Context) error {
	q := req.r.URL.Query()
	max, err := parseMax(q, "max-uploads", 1000)
	if err != nil {
		return err
	}
	in := ListUploadsInput{Prefix: q.Get("prefix"), KeyMarker: q.Get("key-marker"), UploadIDMarker: q.Get("upload-id-marker"), Max: max}
	ups, truncated, err := req.g.be.ListUploads(ctx, req.id, req.rt.Bucket, in)
	if err != nil {
		return err
	}
	o := req.owner()
	res := listMultipartUploadsResult{Xmlns: s3NS, Bucket: req.rt.Bucket, KeyMarker: in.KeyMarker, UploadIdMarker: in.UploadIDMarker,
		Prefix: in.Prefix, MaxUploads: max, IsTruncated: truncated}
	for _, u := range ups {
		res.Uploads = append(res.Uploads, uploadXML{Key: u.Key, UploadId: u.UploadID, Initiator: o, Owner: o, StorageClass: "STANDARD", Initiated: isoTime(u.Initiated)})
		res.NextKeyMarker, res.NextUploadIdMarker = u.Key, u.UploadID
	}
	return req.writeXML(200, res)
}

func (req *request) completeMultipart(ctx context.Context) error {
	uploadID := req.r.URL.Query().Get("uploadId")
	var body completeMultipartUpload
	if err := decodeXML(req.auth.Body, &body); err != nil {
		return err
	}
	if len(body.Parts) == 0 {
		return withMsg(errMalformedXML, "You must specify at least one part")
	}
	if len(body.Parts) > MaxParts {
		return errInvalidPart
	}
	cond, err := writeCond(req.r.Header)
	if err != nil {
		return err
	}
	// Check sizes and ETags against what was uploaded, and compute the
	// multipart ETag: MD5 of the concatenated binary part MD5s, "-N".
	stored := map[int]PartInfo{}
	for marker := 0; ; {
		ps, more, err := req.g.be.ListParts(ctx, req.id, req.rt.Bucket, req.rt.Key, uploadID, marker, 1000)
		if errors.Is(err, ErrNoSuchUpload) && marker == 0 {
			// A retried Complete of an upload that completed: S3
			// answers it as the first, while the object is its result.
			if info, herr := req.g.be.HeadObject(ctx, req.id, req.rt.Bucket, req.rt.Key); herr == nil && uploadID != "" && info.UploadID == uploadID {
				return req.completed(info)
			}
		}
		if err != nil {
			return err
		}
		for _, p := range ps {
			stored[p.Number] = p
			marker = p.Number
		}
		if !more || len(ps) == 0 {
			break
		}
	}
	parts := make([]CompletePart, len(body.Parts))
	all := md5.New()
	for i, p := range body.Parts {
		if i > 0 && p.PartNumber <= body.Parts[i-1].PartNumber {
			return errInvalidPartOrder
		}
		sp, ok := stored[p.PartNumber]
		etag := unquoteETag(p.ETag)
		if !ok || sp.ETag != etag {
			return errInvalidPart
		}
		if sp.Size < MinPartSize && i != len(body.Parts)-1 {
			return errEntityTooSmall
		}
		raw, err := hex.DecodeString(etag)
		if err != nil {
			// A part ETag that is not an MD5 (a backend's copied part):
			// fold its bytes in as they are.
			raw = []byte(etag)
		}
		all.Write(raw)
		parts[i] = CompletePart{Number: p.PartNumber, ETag: etag}
	}
	etag := hex.EncodeToString(all.Sum(nil)) + "-" + strconv.Itoa(len(parts))
	lock, locked, err := req.requestedLock(ctx)
	if err != nil {
		return err
	}
	info, err := req.g.be.CompleteMultipart(ctx, req.id, req.rt.Bucket, req.rt.Key, uploadID, parts, etag, cond)
	if err != nil {
		return err
	}
	if locked {
		if err := req.applyLock(ctx, lock, &info); err != nil {
			return err
		}
	}
	return req.completed(info)
}

func (req *request) completed(info ObjectInfo) error {
	req.setVersionHeaders(info, false)
	scheme := "http"
	if req.r.TLS != nil {
		scheme = "https"
	}
	return req.writeXML(200, completeMultipartUploadResult{Xmlns: s3NS,
		Location: scheme + "://" + req.r.Host + "/" + req.rt.Bucket + "/" + req.rt.Key,
		Bucket:   req.rt.Bucket, Key: req.rt.Key, ETag: quoteETag(info.ETag)})
}

func (req *request) abortMultipart(ctx context.Context) error {
	if err := req.g.be.AbortMultipart(ctx, req.id, req.rt.Bucket, req.rt.Key, req.r.URL.Query().Get("uploadId")); err != nil {
		return err
	}
	return req.noContent()
}
