package s3

import (
	"context"
	"encoding/json"
	"encoding/xml"
)

// PublicAccessBlock and OwnershipControls: stored through
// PutBucketConfig ("publicAccessBlock", "ownershipControls") as JSON and
// enforced by the gateway:
//   - BlockPublicAcls refuses canned ACLs that open a bucket or object
//     (authenticated-read, public-read, public-read-write) with 403;
//   - IgnorePublicAcls makes the bucket's public flag (anonymous reads)
//     count for nothing;
//   - BlockPublicPolicy refuses a policy with a statement allowing
//     everyone without conditions;
//   - RestrictPublicBuckets makes such statements allow nobody but the
//     owner's own keys (anonymous and other keys get nothing from them);
//   - ObjectOwnership BucketOwnerEnforced turns ACLs off: any ACL but
//     private or bucket-owner-full-control is AccessControlListNotSupported.

const (
	confPublicAccessBlock = "publicAccessBlock"
	confOwnership         = "ownershipControls"
)

type publicAccessBlock struct {
	XMLName               xml.Name `xml:"PublicAccessBlockConfiguration" json:"-"`
	Xmlns                 string   `xml:"xmlns,attr,omitempty" json:"-"`
	BlockPublicAcls       bool     `json:"bpa,omitempty"`
	IgnorePublicAcls      bool     `json:"ipa,omitempty"`
	BlockPublicPolicy     bool     `json:"bpp,omitempty"`
	RestrictPublicBuckets bool     `json:"rpb,omitempty"`
}

type ownershipControls struct {
	XMLName xml.Name `xml:"OwnershipControls" json:"-"`
	Xmlns   string   `xml:"xmlns,attr,omitempty" json:"-"`
	Rules   []struct {
		ObjectOwnership string
	} `xml:"Rule" json:"rules"`
}

var (
	errNoPublicAccessBlock = bucketSubresources["publicAccessBlock"].err
	errNoOwnership         = bucketSubresources["ownershipControls"].err
	errACLNotSupported     = apiErr("AccessControlListNotSupported", 400, "The bucket does not allow ACLs")
)

func (req *request) publicAccessBlock(ctx context.Context) publicAccessBlock {
	var p publicAccessBlock
	if raw, err := req.g.be.BucketConfig(ctx, req.rt.Bucket, confPublicAccessBlock); err == nil && raw != nil {
		json.Unmarshal(raw, &p)
	}
	return p
}

func (req *request) ownerEnforced(ctx context.Context) bool {
	raw, err := req.g.be.BucketConfig(ctx, req.rt.Bucket, confOwnership)
	if err != nil || raw == nil {
		return false
	}
	var o ownershipControls
	json.Unmarshal(raw, &o)
	return len(o.Rules) > 0 && o.Rules[0].ObjectOwnership == "BucketOwnerEnforced"
}

// checkCannedAllowed applies BlockPublicAcls and BucketOwnerEnforced to
// a canned ACL a request sets.
func (req *request) checkCannedAllowed(ctx context.Context, canned string) error {
	if canned == "" || canned == ACLPrivate || canned == "bucket-owner-full-control" {
		return nil
	}
	if req.ownerEnforced(ctx) {
		return errACLNotSupported
	}
	if aclRank[canned] > 0 && req.publicAccessBlock(ctx).BlockPublicAcls {
		return withMsg(errAccessDenied, "Access Denied: the bucket's public access block forbids public ACLs")
	}
	return nil
}

func (req *request) putPublicAccessBlock(ctx context.Context) error {
	if err := req.requireOwner(ctx); err != nil {
		return err
	}
	var p publicAccessBlock
	if err := decodeXML(req.auth.Body, &p); err != nil {
		return err
	}
	raw, _ := json.Marshal(p)
	if err := req.g.be.PutBucketConfig(ctx, req.id, req.rt.Bucket, confPublicAccessBlock, raw); err != nil {
		return err
	}
	return req.ok()
}

func (req *request) getPublicAccessBlock(ctx context.Context) error {
	if err := req.requireOwner(ctx); err != nil {
		return err
	}
	raw, err := req.g.be.BucketConfig(ctx, req.rt.Bucket, confPublicAccessBlock)
	if err != nil {
		return err
	}
	if raw == nil {
		return errNoPublicAccessBlock
	}
	var p publicAccessBlock
	json.Unmarshal(raw, &p)
	p.Xmlns = s3NS
	return req.writeXML(200, p)
}

func (req *request) deleteBucketConfig(ctx context.Context, name string) error {
	if err := req.requireOwner(ctx); err != nil {
		return err
	}
	if err := req.g.be.PutBucketConfig(ctx, req.id, req.rt.Bucket, name, nil); err != nil {
		return err
	}
	return req.noContent()
}

func (req *request) putOwnershipControls(ctx context.Context) error {
	if err := req.requireOwner(ctx); err != nil {
		return err
	}
	var o ownershipControls
	if err := decodeXML(req.auth.Body, &o); err != nil {
		return err
	}
	if len(o.Rules) != 1 {
		return withMsg(errMalformedXML, "OwnershipControls hold exactly one Rule.")
	}
	switch o.Rules[0].ObjectOwnership {
	case "BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter":
	default:
		return withMsg(errMalformedXML, "Invalid ObjectOwnership: "+o.Rules[0].ObjectOwnership)
	}
	raw, _ := json.Marshal(o)
	if err := req.g.be.PutBucketConfig(ctx, req.id, req.rt.Bucket, confOwnership, raw); err != nil {
		return err
	}
	return req.ok()
}

func (req *request) getOwnershipControls(ctx context.Context) error {
	if err := req.requireOwner(ctx); err != nil {
		return err
	}
	raw, err := req.g.be.BucketConfig(ctx, req.rt.Bucket, confOwnership)
	if err != nil {
		return err
	}
	if raw == nil {
		return errNoOwnership
	}
	var o ownershipControls
	json.Unmarshal(raw, &o)
	o.Xmlns = s3NS
	return req.writeXML(200, o)
}
