package s3

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/shoalfs/shoal/internal/s3/checksum"
)

func (req *request) createMultipart(ctx context.Context) error {
	meta, err := metaFromHeaders(req.r.Header)
	if err != nil {
		return err
	}
	if meta.ACL, err = req.objectGrants(ctx); err != nil {
		return err
	}
	h := req.r.Header
	if h.Get("X-Amz-Object-Lock-Mode") != "" || h.Get("X-Amz-Object-Lock-Retain-Until-Date") != "" || h.Get("X-Amz-Object-Lock-Legal-Hold") != "" {
		// Checked now, applied by Complete with the object.
		l, _, err := req.requestedLock(ctx)
		if err != nil {
			return err
		}
		meta.Lock = &l
	}
	alg, typ, err := uploadChecksum(h)
	if err != nil {
		return err
	}
	meta.ChecksumAlgorithm, meta.ChecksumType = alg, typ
	if alg != "" {
		req.w.Header().Set("x-amz-checksum-algorithm", string(alg))
		req.w.Header().Set("x-amz-checksum-type", typ)
	}
	id, err := req.g.be.CreateMultipart(ctx, req.id, req.rt.Bucket, req.rt.Key, meta)
	if err != nil {
		return err
	}
	return req.writeXML(200, initiateMultipartUploadResult{Xmlns: s3NS, Bucket: req.rt.Bucket, Key: req.rt.Key, UploadId: id})
}

// uploadChecksum reads CreateMultipartUpload's x-amz-checksum-algorithm
// and x-amz-checksum-type: FULL_OBJECT needs a CRC (CRC64NVME has no
// other), COMPOSITE a digest that is not CRC64NVME, as in S3.
func uploadChecksum(h http.Header) (checksum.Algorithm, string, error) {
	a, typ := h.Get("X-Amz-Checksum-Algorithm"), strings.ToUpper(h.Get("X-Amz-Checksum-Type"))
	if typ != "" && typ != ChecksumComposite && typ != ChecksumFullObject {
		return "", "", withMsg(errInvalidRequest, "Value for x-amz-checksum-type header is invalid.")
	}
	if a == "" {
		if typ != "" {
			return "", "", withMsg(errInvalidRequest, "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
		}
		return "", "", nil
	}
	alg, ok := checksum.Parse(a)
	if !ok {
		return "", "", withMsg(errInvalidRequest, "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
	}
	switch {
	case typ == "" && alg == checksum.CRC64NVME:
		typ = ChecksumFullObject
	case typ == "":
		typ = ChecksumComposite
	case typ == ChecksumFullObject && !alg.Combinable(), typ == ChecksumComposite && alg == checksum.CRC64NVME:
		return "", "", withMsg(errInvalidRequest, "The "+string(alg)+" checksum algorithm does not support the "+typ+" checksum type.")
	}
	return alg, typ, nil
}

// bodyChecksumAlg is the algorithm of the checksum a request's body
// carries, from its headers: x-amz-checksum-<alg>, or the trailer it
// announces (x-amz-trailer), or x-amz-sdk-checksum-algorithm.
func bodyChecksumAlg(h http.Header) checksum.Algorithm {
	for k := range h {
		if a, ok := checksum.FromHeader(k); ok {
			return a
		}
	}
	if a, ok := checksum.FromHeader(h.Get("X-Amz-Trailer")); ok {
		return a
	}
	a, _ := checksum.Parse(h.Get("X-Amz-Sdk-Checksum-Algorithm"))
	return a
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
		up, err := req.g.be.Upload(ctx, req.id, req.rt.Bucket, req.rt.Key, uploadID)
		if err != nil {
			return err
		}
		if want := up.Meta.ChecksumAlgorithm; want != "" {
			if got := bodyChecksumAlg(req.r.Header); got != "" && got != want {
				return withMsg(errInvalidRequest, "Checksum Type mismatch occurred, expected checksum Type: "+strings.ToLower(string(want))+", actual checksum Type: "+strings.ToLower(string(got)))
			}
		}
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
	src, err := req.headSource(ctx, sb, sk, svid)
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
	var p PartInfo
	if v, ok := req.versioner(); ok && svid != "" {
		p, err = v.CopyPartVersion(ctx, req.id, req.rt.Bucket, req.rt.Key, uploadID, n, sb, sk, svid, src.ETag, off, length)
	} else {
		p, err = req.g.be.CopyPart(ctx, req.id, req.rt.Bucket, req.rt.Key, uploadID, n, sb, sk, src.ETag, off, length)
	}
	if err != nil {
		return err
	}
	if svid != "" {
		req.w.Header().Set("x-amz-copy-source-version-id", renderVersion(src.VersionID))
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
	if up, err := req.g.be.Upload(ctx, req.id, req.rt.Bucket, req.rt.Key, uploadID); err == nil && up.Meta.ChecksumAlgorithm != "" {
		res.ChecksumAlgorithm, res.ChecksumType = string(up.Meta.ChecksumAlgorithm), up.Meta.ChecksumType
	}
	for _, p := range parts {
		px := partXML{PartNumber: p.Number, LastModified: isoTime(p.LastModified), ETag: quoteETag(p.ETag), Size: p.Size}
		switch p.ChecksumAlgorithm {
		case checksum.CRC32:
			px.ChecksumCRC32 = p.Checksum
		case checksum.CRC32C:
			px.ChecksumCRC32C = p.Checksum
		case checksum.CRC64NVME:
			px.ChecksumCRC64NVME = p.Checksum
		case checksum.SHA1:
			px.ChecksumSHA1 = p.Checksum
		case checksum.SHA256:
			px.ChecksumSHA256 = p.Checksum
		}
		res.Parts = append(res.Parts, px)
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
	up, err := req.g.be.Upload(ctx, req.id, req.rt.Bucket, req.rt.Key, uploadID)
	if err != nil {
		return err
	}
	parts := make([]CompletePart, len(body.Parts))
	listed := make([]PartInfo, len(body.Parts))
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
		for _, c := range []struct {
			alg checksum.Algorithm
			v   string
		}{{checksum.CRC32, p.ChecksumCRC32}, {checksum.CRC32C, p.ChecksumCRC32C}, {checksum.CRC64NVME, p.ChecksumCRC64NVME},
			{checksum.SHA1, p.ChecksumSHA1}, {checksum.SHA256, p.ChecksumSHA256}} {
			if c.v != "" && (sp.ChecksumAlgorithm != c.alg || sp.Checksum != c.v) {
				return withMsg(errInvalidPart, "The checksum of part "+strconv.Itoa(p.PartNumber)+" does not match the uploaded part's.")
			}
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
		listed[i] = sp
	}
	if err := req.checkFinalChecksum(up.Meta, listed); err != nil {
		return err
	}
	etag := hex.EncodeToString(all.Sum(nil)) + "-" + strconv.Itoa(len(parts))
	var lock ObjectLock
	locked := false
	if up.Meta.Lock == nil {
		// No lock asked for at creation: the bucket's default retention.
		if lock, locked, err = req.requestedLock(ctx); err != nil {
			return err
		}
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

// checkFinalChecksum checks the whole object's checksum a Complete may
// carry (x-amz-checksum-<alg>, x-amz-checksum-type) against what the
// parts make, before anything is published. An upload created without
// a checksum algorithm ignores it, as S3 does.
func (req *request) checkFinalChecksum(m ObjectMeta, parts []PartInfo) error {
	h := req.r.Header
	if typ := strings.ToUpper(h.Get("X-Amz-Checksum-Type")); typ != "" && m.ChecksumAlgorithm != "" && typ != m.ChecksumType {
		return withMsg(errInvalidRequest, "The upload was created using the "+m.ChecksumType+" checksum mode. The complete request must use the same checksum mode.")
	}
	if m.ChecksumAlgorithm == "" {
		return nil
	}
	var alg checksum.Algorithm
	var given string
	for _, a := range checksum.All {
		if v := h.Get(a.Header()); v != "" {
			if alg != "" {
				return withMsg(errInvalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
			}
			alg, given = a, v
		}
	}
	if alg == "" {
		return nil
	}
	if alg != m.ChecksumAlgorithm {
		return withMsg(errInvalidRequest, "The upload was created using a "+strings.ToLower(string(m.ChecksumAlgorithm))+" checksum. The complete request must use the same checksum.")
	}
	_, want := MultipartChecksum(parts, m.ChecksumAlgorithm, m.ChecksumType)
	if want == "" {
		return withMsg(errInvalidRequest, "The upload was created using a "+strings.ToLower(string(alg))+" checksum. The complete request must include the checksum for each part.")
	}
	if given != want {
		// A composite value may come without its "-N".
		if b, _, ok := strings.Cut(want, "-"); !ok || given != b {
			return withMsg(errBadDigest, "The "+alg.Header()+" you specified did not match the calculated checksum.")
		}
	}
	return nil
}

func (req *request) completed(info ObjectInfo) error {
	req.setVersionHeaders(info, false)
	scheme := "http"
	if req.r.TLS != nil {
		scheme = "https"
	}
	return req.writeXML(200, completeMultipartUploadResult{Xmlns: s3NS,
		Location: scheme + "://" + req.r.Host + "/" + req.rt.Bucket + "/" + req.rt.Key,
		Bucket:   req.rt.Bucket, Key: req.rt.Key, ETag: quoteETag(info.ETag)}.withChecksum(info))
}

func (r completeMultipartUploadResult) withChecksum(info ObjectInfo) completeMultipartUploadResult {
	if info.Checksum == "" {
		return r
	}
	switch info.ChecksumAlgorithm {
	case checksum.CRC32:
		r.ChecksumCRC32 = info.Checksum
	case checksum.CRC32C:
		r.ChecksumCRC32C = info.Checksum
	case checksum.CRC64NVME:
		r.ChecksumCRC64NVME = info.Checksum
	case checksum.SHA1:
		r.ChecksumSHA1 = info.Checksum
	case checksum.SHA256:
		r.ChecksumSHA256 = info.Checksum
	}
	r.ChecksumType = checksumType(info.Checksum)
	return r
}

func (req *request) abortMultipart(ctx context.Context) error {
	if err := req.g.be.AbortMultipart(ctx, req.id, req.rt.Bucket, req.rt.Key, req.r.URL.Query().Get("uploadId")); err != nil {
		return err
	}
	return req.noContent()
}
