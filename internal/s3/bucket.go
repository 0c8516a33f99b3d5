package s3

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

func (req *request) owner() owner {
	if req.id.Anonymous() {
		return owner{ID: "anonymous", DisplayName: "anonymous"}
	}
	return owner{ID: strconv.FormatUint(uint64(req.id.Uid), 10), DisplayName: req.id.AccessKey}
}

// ownerOf is the owner element of what uid owns.
func (req *request) ownerOf(uid uint32) owner {
	name := req.g.names[uid]
	if name == "" {
		name = "uid-" + strconv.FormatUint(uint64(uid), 10)
	}
	return owner{ID: strconv.FormatUint(uint64(uid), 10), DisplayName: name}
}

const maxBucketsPage = 10000

func (req *request) listBuckets(ctx context.Context) error {
	q := req.r.URL.Query()
	max, err := parseMax(q, "max-buckets", maxBucketsPage)
	if err != nil || q.Has("max-buckets") && max < 1 {
		return withMsg(errInvalidArgument, "Argument max-buckets must be an integer between 1 and 10000")
	}
	after := ""
	if tok := q.Get("continuation-token"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			return withMsg(errInvalidArgument, "The continuation token provided is incorrect")
		}
		after = string(raw)
	}
	prefix := q.Get("prefix")
	bs, err := req.g.be.ListBuckets(ctx, req.id)
	if err != nil {
		return err
	}
	res := listAllMyBucketsResult{Xmlns: s3NS, Owner: req.owner(), Prefix: prefix, Buckets: []bucketXML{}}
	region := req.g.cfg.Region
	for _, b := range bs {
		if b.Name <= after || !strings.HasPrefix(b.Name, prefix) {
			continue
		}
		// S3 lists the requester's own buckets; root sees every one.
		if req.id.Uid != 0 && b.Owner != req.id.Uid {
			continue
		}
		if len(res.Buckets) == max {
			// Only a page cut short says where to go on.
			res.ContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(res.Buckets[max-1].Name))
			break
		}
		x := bucketXML{Name: b.Name, CreationDate: isoTime(b.Created)}
		if q.Has("max-buckets") || q.Has("continuation-token") || q.Has("bucket-region") {
			x.BucketRegion = region
		}
		res.Buckets = append(res.Buckets, x)
	}
	if r := q.Get("bucket-region"); r != "" && r != region {
		res.Buckets = []bucketXML{}
		res.ContinuationToken = ""
	}
	return req.writeXML(200, res)
}

func (req *request) createBucket(ctx context.Context) error {
	if !ValidBucket(req.rt.Bucket) {
		return errInvalidBucketName
	}
	// The body, if any, is a CreateBucketConfiguration naming a region: we
	// have one namespace, so any constraint is accepted and ignored.
	if _, err := drain(req.auth.Body); err != nil {
		return err
	}
	lockEnabled := strings.EqualFold(req.r.Header.Get("X-Amz-Bucket-Object-Lock-Enabled"), "true")
	if _, ok := req.locker(); lockEnabled && !ok {
		return withMsg(errNotImplemented, "This storage does not keep object locks.")
	}
	if req.r.Header.Get("X-Amz-Acl") != "" && hasGrantHeaders(req.r.Header) {
		return errBothCannedAndGrants
	}
	hg, anyGrant, err := parseGrantHeaders(req.r.Header)
	if err != nil {
		return err
	}
	canned := ACLPrivate
	if c := req.r.Header.Get("X-Amz-Acl"); c != "" {
		if canned, err = cannedBucket(c); err != nil {
			return err
		}
	}
	hg = withoutOwner(hg, strconv.FormatUint(uint64(req.id.Uid), 10))
	if anyGrant {
		canned = cannedOf(hg)
	}
	if err := req.g.be.CreateBucket(ctx, req.id, req.rt.Bucket); err != nil {
		if !errors.Is(err, ErrBucketExists) {
			return err
		}
		// S3 tells the owner from anyone else; in us-east-1 it answers
		// the owner's repeated create with success.
		bi, herr := req.g.be.HeadBucket(ctx, req.id, req.rt.Bucket)
		if herr != nil || bi.Owner != req.id.Uid {
			return errBucketAlreadyExists
		}
		if req.g.cfg.Region != "us-east-1" {
			return errBucketAlreadyOwned
		}
	} else {
		if canned != ACLPrivate || len(hg) > 0 {
			if err := req.setBucketGrants(ctx, canned, hg); err != nil {
				return err
			}
		}
		// Object lock implies versioning, enabled for good.
		if lockEnabled {
			if err := req.enableObjectLock(ctx, objectLockConfiguration{}); err != nil {
				return err
			}
		}
	}
	req.w.Header().Set("Location", "/"+req.rt.Bucket)
	return req.ok()
}

func (req *request) headBucket(ctx context.Context) error {
	if _, err := req.g.be.HeadBucket(ctx, req.id, req.rt.Bucket); err != nil {
		return err
	}
	req.w.Header().Set("x-amz-bucket-region", req.g.cfg.Region)
	return req.ok()
}

func (req *request) deleteBucket(ctx context.Context) error {
	if err := req.g.be.DeleteBucket(ctx, req.id, req.rt.Bucket); err != nil {
		return err
	}
	return req.noContent()
}

func (req *request) getBucketLocation(ctx context.Context) error {
	if _, err := req.g.be.HeadBucket(ctx, req.id, req.rt.Bucket); err != nil {
		return err
	}
	loc := req.g.cfg.Region
	if loc == "us-east-1" {
		loc = "" // S3 reports the default region as an empty constraint
	}
	return req.writeXML(200, locationConstraint{Xmlns: s3NS, Value: loc})
}

func (req *request) getBucketTagging(ctx context.Context) error {
	tags, err := req.g.be.BucketTags(ctx, req.id, req.rt.Bucket)
	if err != nil {
		return err
	}
	if len(tags) == 0 {
		return errNoSuchTagSet
	}
	return req.writeXML(200, tagsXML(tags))
}

func (req *request) putBucketTagging(ctx context.Context) error {
	tags, err := req.readTagging(maxBucketTags)
	if err != nil {
		return err
	}
	if err := req.g.be.PutBucketTags(ctx, req.id, req.rt.Bucket, tags); err != nil {
		return err
	}
	return req.noContent()
}

func (req *request) deleteBucketTagging(ctx context.Context) error {
	if err := req.g.be.PutBucketTags(ctx, req.id, req.rt.Bucket, nil); err != nil {
		return err
	}
	return req.noContent()
}

const (
	maxObjectTags = 10
	maxBucketTags = 50
)

func tagsXML(tags []Tag) tagging {
	t := tagging{Xmlns: s3NS, TagSet: []tagXML{}}
	for _, x := range tags {
		t.TagSet = append(t.TagSet, tagXML{Key: x.Key, Value: x.Value})
	}
	return t
}

func (req *request) readTagging(max int) ([]Tag, error) {
	var t tagging
	if err := decodeXML(req.auth.Body, &t); err != nil {
		return nil, err
	}
	tags := make([]Tag, 0, len(t.TagSet))
	for _, x := range t.TagSet {
		tags = append(tags, Tag{Key: x.Key, Value: x.Value})
	}
	return tags, validateTags(tags, max)
}

func validateTags(tags []Tag, max int) error {
	if len(tags) > max {
		return withMsg(errInvalidTag, "Object tags cannot be greater than "+strconv.Itoa(max))
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if t.Key == "" || utf8.RuneCountInString(t.Key) > 128 || utf8.RuneCountInString(t.Value) > 256 {
			return withMsg(errInvalidTag, "The TagKey or TagValue you have provided is invalid.")
		}
		if seen[t.Key] {
			return withMsg(errInvalidTag, "Cannot provide multiple Tags with the same key")
		}
		seen[t.Key] = true
	}
	return nil
}

// parseTaggingHeader parses x-amz-tagging ("k1=v1&k2=v2").
func parseTaggingHeader(s string) ([]Tag, error) {
	if s == "" {
		return nil, nil
	}
	q, err := url.ParseQuery(s)
	if err != nil {
		return nil, withMsg(errInvalidArgument, "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
	}
	var tags []Tag
	for k, vs := range q {
		if len(vs) != 1 {
			return nil, withMsg(errInvalidTag, "Cannot provide multiple Tags with the same key")
		}
		tags = append(tags, Tag{Key: k, Value: vs[0]})
	}
	sortTags(tags)
	return tags, validateTags(tags, maxObjectTags)
}

func sortTags(tags []Tag) {
	for i := 1; i < len(tags); i++ {
		for j := i; j > 0 && tags[j].Key < tags[j-1].Key; j-- {
			tags[j], tags[j-1] = tags[j-1], tags[j]
		}
	}
}

// --- listing ---

const maxListKeys = 1000

func parseMax(q url.Values, name string, def int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, withMsg(errInvalidArgument, "Provided "+name+" not an integer or within integer range")
	}
	return min(n, def), nil
}

// s3Encode is encoding-type=url: what SDKs decode with a URL query unescape.
func s3Encode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte("0123456789ABCDEF"[c>>4])
		b.WriteByte("0123456789ABCDEF"[c&15])
	}
	return b.String()
}

func (req *request) listObjects(ctx context.Context, v2 bool) error {
	q := req.r.URL.Query()
	maxKeys, err := parseMax(q, "max-keys", maxListKeys)
	if err != nil {
		return err
	}
	enc := q.Get("encoding-type")
	if enc != "" && enc != "url" {
		return withMsg(errInvalidArgument, "Invalid Encoding Method specified in Request")
	}
	e := func(s string) string {
		if enc == "url" {
			return s3Encode(s)
		}
		return s
	}
	in := ListInput{Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"), Max: maxKeys}
	res := listBucketResult{Xmlns: s3NS, Name: req.rt.Bucket, Prefix: in.Prefix, MaxKeys: maxKeys,
		Delimiter: e(in.Delimiter), EncodingType: enc}
	if v2 {
		// S3 encodes the echoed prefix in v2 only (SDKs decode it there
		// and take v1's as it is).
		res.Prefix = e(in.Prefix)
	}
	fetchOwner := !v2
	if v2 {
		fetchOwner = q.Get("fetch-owner") == "true"
		if q.Has("continuation-token") {
			tok := q.Get("continuation-token")
			res.ContinuationToken = &tok
		}
		if tok := q.Get("continuation-token"); tok != "" {
			raw, err := base64.RawURLEncoding.DecodeString(tok)
			if err != nil {
				return withMsg(errInvalidArgument, "The continuation token provided is incorrect")
			}
			in.StartAfter = string(raw)
		} else {
			in.StartAfter = q.Get("start-after")
		}
		res.StartAfter = e(q.Get("start-after"))
	} else {
		in.StartAfter = q.Get("marker")
		m := e(in.StartAfter)
		res.Marker = &m
	}
	// Keys before the prefix cannot match: start at the prefix.
	var page ListPage
	if maxKeys > 0 {
		page, err = req.g.be.List(ctx, req.id, req.rt.Bucket, in)
	} else {
		_, err = req.g.be.HeadBucket(ctx, req.id, req.rt.Bucket)
	}
	if err != nil {
		return err
	}
	res.Contents = []contentsXML{}
	o := req.owner()
	for _, obj := range page.Objects {
		c := contentsXML{Key: e(obj.Key), LastModified: isoTime(obj.LastModified), ETag: quoteETag(obj.ETag), Size: obj.Size, StorageClass: "STANDARD"}
		if fetchOwner {
			c.Owner = &o
		}
		res.Contents = append(res.Contents, c)
	}
	for _, p := range page.CommonPrefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefixXML{Prefix: e(p)})
	}
	res.IsTruncated = page.Truncated
	if v2 {
		n := len(page.Objects) + len(page.CommonPrefixes)
		res.KeyCount = &n
		if page.Truncated {
			res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(page.Next))
		}
	} else if page.Truncated {
		res.NextMarker = e(page.Next)
	}
	return req.writeXML(200, res)
}

func quoteETag(s string) string { return `"` + s + `"` }

func unquoteETag(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	return strings.Trim(s, `"`)
}
