package s3

import (
	"context"
	"encoding/xml"
)

// NullVersion is the version id of an object written while its bucket's
// versioning was never enabled (or suspended).
const NullVersion = "null"

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
	var page ListPage
	if maxKeys > 0 {
		page, err = req.g.be.List(ctx, req.id, req.rt.Bucket, in)
	} else {
		_, err = req.g.be.HeadBucket(ctx, req.id, req.rt.Bucket)
	}
	if err != nil {
		return err
	}
	o := req.owner()
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
