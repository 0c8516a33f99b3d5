package s3

import (
	"context"
	"encoding/xml"
)

// NullVersion is the version id of an object written while its bucket's
// versioning was never enabled (or suspended).
const NullVersion = "null"

// ConfVersioning is the BucketConfig holding a bucket's versioning state:
// "Enabled" or "Suspended" (none when never enabled).
const ConfVersioning = "versioning"

type versionXML struct {
	XMLName      xml.Name `xml:"Version"`
	Key          string
	VersionId    string
	IsLatest     bool
	LastModified string
	ETag         string
	Size         int64
	Owner        owner
	StorageClass string
}

type deleteMarkerXML struct {
	XMLName      xml.Name `xml:"DeleteMarker"`
	Key          string
	VersionId    string
	IsLatest     bool
	LastModified string
	Owner        owner
}

type listVersionsResult struct {
	XMLName             xml.Name `xml:"ListVersionsResult"`
	Xmlns               string   `xml:"xmlns,attr"`
	Name                string
	Prefix              string
	KeyMarker           string
	VersionIdMarker     string
	NextKeyMarker       string `xml:",omitempty"`
	NextVersionIdMarker string `xml:",omitempty"`
	MaxKeys             int
	Delimiter           string `xml:",omitempty"`
	EncodingType        string `xml:",omitempty"`
	IsTruncated         bool
	// Entries are versionXML and deleteMarkerXML values, in S3's order
	// (by key, then newest first): S3 interleaves the two elements.
	Entries        []any `xml:",any"`
	CommonPrefixes []commonPrefixXML
}

func (req *request) listObjectVersions(ctx context.Context) error {
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
	keyMarker, vidMarker := q.Get("key-marker"), q.Get("version-id-marker")
	if vidMarker != "" && keyMarker == "" {
		return withMsg(errInvalidArgument, "A version-id marker cannot be specified without a key marker.")
	}
	in := ListInput{Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"), Max: maxKeys, StartAfter: keyMarker}
	res := listVersionsResult{Xmlns: s3NS, Name: req.rt.Bucket, Prefix: e(in.Prefix), KeyMarker: e(keyMarker),
		VersionIdMarker: vidMarker, MaxKeys: maxKeys, Delimiter: e(in.Delimiter), EncodingType: enc}
	o := req.owner()
	if v, ok := req.versioner(); ok {
		var vp VersionsPage
		if maxKeys > 0 {
			vp, err = v.ListVersions(ctx, req.id, req.rt.Bucket, ListVersionsInput{Prefix: in.Prefix, Delimiter: in.Delimiter,
				KeyMarker: keyMarker, VersionIDMarker: vidMarker, Max: maxKeys})
		} else {
			_, err = req.g.be.HeadBucket(ctx, req.id, req.rt.Bucket)
		}
		if err != nil {
			return err
		}
		for _, x := range vp.Versions {
			if x.DeleteMarker {
				res.Entries = append(res.Entries, deleteMarkerXML{Key: e(x.Key), VersionId: renderVersion(x.VersionID), IsLatest: x.IsLatest,
					LastModified: isoTime(x.LastModified), Owner: o})
				continue
			}
			res.Entries = append(res.Entries, versionXML{Key: e(x.Key), VersionId: renderVersion(x.VersionID), IsLatest: x.IsLatest,
				LastModified: isoTime(x.LastModified), ETag: quoteETag(x.ETag), Size: x.Size, Owner: o, StorageClass: "STANDARD"})
		}
		for _, p := range vp.CommonPrefixes {
			res.CommonPrefixes = append(res.CommonPrefixes, commonPrefixXML{Prefix: e(p)})
		}
		res.IsTruncated = vp.Truncated
		if vp.Truncated {
			res.NextKeyMarker, res.NextVersionIdMarker = e(vp.NextKeyMarker), vp.NextVersionIDMarker
		}
		return req.writeXML(200, res)
	}
	var page ListPage
	if maxKeys > 0 {
		page, err = req.g.be.List(ctx, req.id, req.rt.Bucket, in)
	} else {
		_, err = req.g.be.HeadBucket(ctx, req.id, req.rt.Bucket)
	}
	if err != nil {
		return err
	}
	for _, obj := range page.Objects {
		res.Entries = append(res.Entries, versionXML{Key: e(obj.Key), VersionId: NullVersion, IsLatest: true,
			LastModified: isoTime(obj.LastModified), ETag: quoteETag(obj.ETag), Size: obj.Size, Owner: o, StorageClass: "STANDARD"})
	}
	for _, p := range page.CommonPrefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefixXML{Prefix: e(p)})
	}
	res.IsTruncated = page.Truncated
	if page.Truncated {
		res.NextKeyMarker = e(page.Next)
		if len(page.Objects) > 0 && page.Objects[len(page.Objects)-1].Key == page.Next {
			res.NextVersionIdMarker = NullVersion
		}
	}
	return req.writeXML(200, res)
}

type versioningConfiguration struct {
	XMLName   xml.Name `xml:"VersioningConfiguration"`
	Xmlns     string   `xml:"xmlns,attr,omitempty"`
	Status    string   `xml:",omitempty"`
	MfaDelete string   `xml:",omitempty"`
}

func (req *request) versioner() (Versioner, bool) {
	v, ok := req.g.be.(Versioner)
	return v, ok
}

func (req *request) putBucketVersioning(ctx context.Context) error {
	if err := req.requireOwner(ctx); err != nil {
		return err
	}
	var c versioningConfiguration
	if err := decodeXML(req.auth.Body, &c); err != nil {
		return err
	}
	switch c.Status {
	case "Enabled", "Suspended":
	default:
		return withMsg(errMalformedXML, "The versioning Status must be Enabled or Suspended.")
	}
	if c.MfaDelete == "Enabled" {
		return withMsg(errNotImplemented, "MFA Delete is not supported.")
	}
	if _, ok := req.versioner(); !ok {
		return withMsg(errNotImplemented, "This storage does not keep object versions.")
	}
	if c.Status == "Suspended" {
		if lc, err := req.lockConfig(ctx); err != nil {
			return err
		} else if lc != nil {
			return errInvalidBucketState
		}
		// Suspending a bucket never enabled leaves it unversioned, as S3.
		if cur, err := req.g.be.BucketConfig(ctx, req.rt.Bucket, ConfVersioning); err != nil {
			return err
		} else if cur == nil {
			return req.ok()
		}
	}
	if err := req.g.be.PutBucketConfig(ctx, req.id, req.rt.Bucket, ConfVersioning, []byte(c.Status)); err != nil {
		return err
	}
	return req.ok()
}

func (req *request) getBucketVersioning(ctx context.Context) error {
	if _, err := req.g.be.HeadBucket(ctx, req.id, req.rt.Bucket); err != nil {
		return err
	}
	st, err := req.g.be.BucketConfig(ctx, req.rt.Bucket, ConfVersioning)
	if err != nil {
		return err
	}
	return req.writeXML(200, versioningConfiguration{Xmlns: s3NS, Status: string(st)})
}

// versionID is the request's versionId ("" when absent), checked.
func (req *request) versionID() (string, error) {
	q := req.r.URL.Query()
	if !q.Has("versionId") {
		return "", nil
	}
	v := q.Get("versionId")
	if v == "" {
		return "", withMsg(errInvalidArgument, "Version id cannot be the empty string")
	}
	if _, ok := req.versioner(); !ok && v != NullVersion {
		return "", withMsg(errInvalidArgument, "Invalid version id specified")
	}
	return v, nil
}

func renderVersion(v string) string {
	if v == "" {
		return NullVersion
	}
	return v
}

// setVersionHeaders adds x-amz-version-id (objects written with
// versioning on) and x-amz-delete-marker.
func (req *request) setVersionHeaders(info ObjectInfo, always bool) {
	h := req.w.Header()
	if info.VersionID != "" || always {
		h.Set("x-amz-version-id", renderVersion(info.VersionID))
	}
	if info.DeleteMarker {
		h.Set("x-amz-delete-marker", "true")
	}
}
