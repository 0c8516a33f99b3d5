package s3

import (
	"context"
	"net/http"
	"strings"
)

// ACLs. Shoal maps S3's access control onto the namespace's POSIX
// modes: a bucket's canned ACL is its directory's mode (and public
// flag), see Backend.PutBucketACL; objects follow their bucket. Grants to
// single users (x-amz-grant-*, ACL documents naming canonical users other
// than the owner) have no POSIX form and are NotImplemented.

const (
	groupAllUsers  = "http://acs.amazonaws.com/groups/global/AllUsers"
	groupAuthUsers = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
	xsiNS          = "http://www.w3.org/2001/XMLSchema-instance"
)

// cannedBucket normalises a canned ACL for a bucket: the bucket-owner-*
// ones name the owner, who has full control anyway.
func cannedBucket(s string) (string, error) {
	switch s {
	case ACLPrivate, ACLPublicRead, ACLPublicReadWrite, ACLAuthenticatedRead:
		return s, nil
	case "bucket-owner-read", "bucket-owner-full-control":
		return ACLPrivate, nil
	case "log-delivery-write", "aws-exec-read":
		return "", withMsg(errNotImplemented, "The canned ACL "+s+" is not supported.")
	}
	return "", withMsg(errInvalidArgument, "Invalid canned ACL: "+s)
}

// aclRank orders what a canned ACL opens, for "does the bucket allow it".
var aclRank = map[string]int{ACLPrivate: 0, ACLAuthenticatedRead: 1, ACLPublicRead: 2, ACLPublicReadWrite: 3}

func noGrantHeaders(h http.Header) error {
	for k := range h {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-grant-") {
			return withMsg(errNotImplemented, "Grants to single grantees (x-amz-grant-*) are not supported: use a canned ACL.")
		}
	}
	return nil
}

// checkObjectACL accepts an object's canned ACL (from x-amz-acl, or a
// PutObjectAcl) when its bucket already gives that access: objects
// follow their bucket.
func (req *request) checkObjectACL(ctx context.Context, canned string) error {
	if err := noGrantHeaders(req.r.Header); err != nil {
		return err
	}
	if canned == "" {
		return nil
	}
	if err := req.checkCannedAllowed(ctx, canned); err != nil {
		return err
	}
	c, err := cannedBucket(canned)
	if err != nil {
		return err
	}
	if c == ACLPrivate {
		return nil
	}
	have, err := req.g.be.BucketACL(ctx, req.id, req.rt.Bucket)
	if err != nil {
		return err
	}
	if aclRank[c] > aclRank[have] {
		return withMsg(errNotImplemented, "Objects follow their bucket's ACL ("+have+"): set the bucket's ACL to give "+canned+".")
	}
	return nil
}

func (req *request) aclDocument(ctx context.Context) (accessControlPolicy, error) {
	bi, err := req.g.be.HeadBucket(ctx, req.id, req.rt.Bucket)
	if err != nil {
		return accessControlPolicy{}, err
	}
	canned, err := req.g.be.BucketACL(ctx, req.id, req.rt.Bucket)
	if err != nil {
		return accessControlPolicy{}, err
	}
	o := req.ownerOf(bi.Owner)
	doc := accessControlPolicy{Xmlns: s3NS, Owner: o, Grants: []grantXML{{
		Grantee: granteeXML{XMLNS: xsiNS, Type: "CanonicalUser", ID: o.ID, DisplayName: o.DisplayName}, Permission: "FULL_CONTROL"}}}
	group := func(uri, perm string) grantXML {
		return grantXML{Grantee: granteeXML{XMLNS: xsiNS, Type: "Group", URI: uri}, Permission: perm}
	}
	switch canned {
	case ACLAuthenticatedRead:
		doc.Grants = append(doc.Grants, group(groupAuthUsers, "READ"))
	case ACLPublicRead:
		doc.Grants = append(doc.Grants, group(groupAllUsers, "READ"))
	case ACLPublicReadWrite:
		doc.Grants = append(doc.Grants, group(groupAllUsers, "READ"), group(groupAllUsers, "WRITE"))
	}
	return doc, nil
}

// cannedFromRequest reads a Put…Acl request: the x-amz-acl header, or a
// body whose grants are exactly those of a canned ACL.
func (req *request) cannedFromRequest(ownerID string) (string, error) {
	if err := noGrantHeaders(req.r.Header); err != nil {
		return "", err
	}
	if c := req.r.Header.Get("X-Amz-Acl"); c != "" {
		return cannedBucket(c)
	}
	var doc accessControlPolicy
	if err := decodeXML(req.auth.Body, &doc); err != nil {
		return "", err
	}
	var groups []string
	for _, g := range doc.Grants {
		switch {
		case g.Grantee.ID != "" && g.Grantee.ID == ownerID && g.Permission == "FULL_CONTROL":
		case g.Grantee.URI == groupAllUsers && (g.Permission == "READ" || g.Permission == "WRITE"):
			groups = append(groups, "all:"+g.Permission)
		case g.Grantee.URI == groupAuthUsers && g.Permission == "READ":
			groups = append(groups, "auth:READ")
		default:
			return "", withMsg(errNotImplemented, "Only the grants of a canned ACL can be set (the owner's FULL_CONTROL, AllUsers READ/WRITE, AuthenticatedUsers READ).")
		}
	}
	switch strings.Join(groups, ",") {
	case "":
		return ACLPrivate, nil
	case "auth:READ":
		return ACLAuthenticatedRead, nil
	case "all:READ":
		return ACLPublicRead, nil
	case "all:READ,all:WRITE", "all:WRITE,all:READ":
		return ACLPublicReadWrite, nil
	}
	return "", withMsg(errNotImplemented, "These grants match no canned ACL.")
}

func (req *request) getACL(ctx context.Context) error {
	if req.rt.Key != "" {
		if _, err := req.g.be.HeadObject(ctx, req.id, req.rt.Bucket, req.rt.Key); err != nil {
			return err
		}
	}
	doc, err := req.aclDocument(ctx)
	if err != nil {
		return err
	}
	return req.writeXML(200, doc)
}

func (req *request) putBucketACL(ctx context.Context) error {
	if err := req.requireOwner(ctx); err != nil {
		return err
	}
	bi, err := req.g.be.HeadBucket(ctx, req.id, req.rt.Bucket)
	if err != nil {
		return err
	}
	canned, err := req.cannedFromRequest(req.ownerOf(bi.Owner).ID)
	if err != nil {
		return err
	}
	if err := req.checkCannedAllowed(ctx, canned); err != nil {
		return err
	}
	if err := req.g.be.PutBucketACL(ctx, req.id, req.rt.Bucket, canned); err != nil {
		return err
	}
	return req.ok()
}

func (req *request) putObjectACL(ctx context.Context) error {
	if _, err := req.g.be.HeadObject(ctx, req.id, req.rt.Bucket, req.rt.Key); err != nil {
		return err
	}
	bi, err := req.g.be.HeadBucket(ctx, req.id, req.rt.Bucket)
	if err != nil {
		return err
	}
	canned, err := req.cannedFromRequest(req.ownerOf(bi.Owner).ID)
	if err != nil {
		return err
	}
	if err := req.checkObjectACL(ctx, canned); err != nil {
		return err
	}
	return req.ok()
}
