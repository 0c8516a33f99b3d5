package s3

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// ACLs. A bucket's canned ACL is its directory's POSIX mode (and public
// flag), see Backend.PutBucketACL. Grants beyond a canned ACL (to single
// users by canonical id, to the AllUsers and AuthenticatedUsers groups)
// are kept as JSON: a bucket's in its "acl" BucketConfig, an object's in
// ObjectMeta.ACL, with the version (through ACLKeeper). Shoal's
// canonical id of a user is its decimal uid (as ListBuckets' Owner ID).
//
// The gateway evaluates grants per request after the bucket policy: a
// request the policy neither allowed nor denied, from someone other than
// the bucket's owner, is served as the owner when a grant gives its
// permission (aclPermission) to the requester, AllUsers, or (signed
// requests) AuthenticatedUsers. IgnorePublicAcls makes group grants
// count for nothing; BlockPublicAcls refuses to set them;
// ObjectOwnership BucketOwnerEnforced disables ACLs (grants count for
// nothing, setting any is AccessControlListNotSupported). A copy served
// through a grant needs a READ grant on its source too.

const (
	groupAllUsers  = "http://acs.amazonaws.com/groups/global/AllUsers"
	groupAuthUsers = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
	xsiNS          = "http://www.w3.org/2001/XMLSchema-instance"
	confACL        = "acl"
)

const (
	permRead        = "READ"
	permWrite       = "WRITE"
	permReadACP     = "READ_ACP"
	permWriteACP    = "WRITE_ACP"
	permFullControl = "FULL_CONTROL"
)

var validPerm = map[string]bool{permRead: true, permWrite: true, permReadACP: true, permWriteACP: true, permFullControl: true}

// grantHeaders maps the x-amz-grant-* headers to their permission.
var grantHeaders = []struct{ header, perm string }{
	{"X-Amz-Grant-Read", permRead}, {"X-Amz-Grant-Write", permWrite}, {"X-Amz-Grant-Read-Acp", permReadACP},
	{"X-Amz-Grant-Write-Acp", permWriteACP}, {"X-Amz-Grant-Full-Control", permFullControl},
}

// hasGrantHeaders reports whether any x-amz-grant-* header is set.
func hasGrantHeaders(h http.Header) bool {
	for _, gh := range grantHeaders {
		if len(h.Values(gh.header)) > 0 {
			return true
		}
	}
	return false
}

var (
	errBothCannedAndGrants = withMsg(errInvalidRequest, "Specifying both Canned ACLs and Header Grants is not allowed")
	errUnexpectedContent   = apiErr("UnexpectedContent", 400, "This request does not support content")
	errMissingACLHeader    = apiErr("MissingSecurityHeader", 400, "Your request was missing a required header")
	errMalformedACL        = apiErr("MalformedACLError", 400, "The XML you provided was not well-formed or did not validate against our published schema.")
	errUnresolvableACL     = apiErr("UnresolvableGrantByEmailAddress", 400, "The e-mail address you provided does not match any account on record.")
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

// aclRank orders what a canned ACL opens.
var aclRank = map[string]int{ACLPrivate: 0, ACLAuthenticatedRead: 1, ACLPublicRead: 2, ACLPublicReadWrite: 3}

// cannedGrants are the group grants of a (normalised) canned ACL.
func cannedGrants(c string) []Grant {
	switch c {
	case ACLAuthenticatedRead:
		return []Grant{{URI: groupAuthUsers, Permission: permRead}}
	case ACLPublicRead:
		return []Grant{{URI: groupAllUsers, Permission: permRead}}
	case ACLPublicReadWrite:
		return []Grant{{URI: groupAllUsers, Permission: permRead}, {URI: groupAllUsers, Permission: permWrite}}
	}
	return nil
}

// cannedOf is the canned ACL (a bucket's POSIX form) that grants
// contain: what the groups may, the rest staying grants.
func cannedOf(grants []Grant) string {
	has := func(uri, perm string) bool {
		for _, g := range grants {
			if g.URI == uri && (g.Permission == perm || g.Permission == permFullControl) {
				return true
			}
		}
		return false
	}
	switch {
	case has(groupAllUsers, permRead) && has(groupAllUsers, permWrite):
		return ACLPublicReadWrite
	case has(groupAllUsers, permRead):
		return ACLPublicRead
	case has(groupAuthUsers, permRead):
		return ACLAuthenticatedRead
	}
	return ACLPrivate
}

// grantee validates one grantee and returns it as a Grant without its
// permission.
func grantee(id, uri, email string) (Grant, error) {
	switch {
	case email != "":
		return Grant{}, errUnresolvableACL
	case id != "" && uri == "":
		if _, err := strconv.ParseUint(id, 10, 32); err != nil {
			return Grant{}, withMsg(errInvalidArgument, "Invalid id: "+id+" (Shoal's canonical ids are decimal uids)")
		}
		return Grant{ID: id}, nil
	case uri != "" && id == "":
		if uri != groupAllUsers && uri != groupAuthUsers {
			return Grant{}, withMsg(errInvalidArgument, "Invalid group uri: "+uri)
		}
		return Grant{URI: uri}, nil
	}
	return Grant{}, withMsg(errMalformedACL, "A grantee names exactly one canonical id, group uri or e-mail address.")
}

// parseGrantHeaders reads the x-amz-grant-* headers (each a comma-
// separated list of id="…", uri="…" or emailAddress="…").
func parseGrantHeaders(h http.Header) ([]Grant, bool, error) {
	var out []Grant
	any := false
	for _, gh := range grantHeaders {
		vals := h.Values(gh.header)
		if len(vals) == 0 {
			continue
		}
		any = true
		for _, v := range vals {
			for _, item := range strings.Split(v, ",") {
				item = strings.TrimSpace(item)
				if item == "" {
					continue
				}
				k, val, ok := strings.Cut(item, "=")
				if !ok {
					return nil, true, withMsg(errInvalidArgument, "Invalid grant: "+item)
				}
				val = strings.Trim(strings.TrimSpace(val), `"`)
				var g Grant
				var err error
				switch strings.ToLower(strings.TrimSpace(k)) {
				case "id":
					g, err = grantee(val, "", "")
				case "uri":
					g, err = grantee("", val, "")
				case "emailaddress":
					g, err = grantee("", "", val)
				default:
					err = withMsg(errInvalidArgument, "Invalid grantee type: "+k)
				}
				if err != nil {
					return nil, true, err
				}
				g.Permission = gh.perm
				out = append(out, g)
			}
		}
	}
	return out, any, nil
}

// withoutOwner drops the grants the owner has anyway (its FULL_CONTROL
// is implicit and cannot be taken away in Shoal).
func withoutOwner(grants []Grant, ownerID string) []Grant {
	var out []Grant
	for _, g := range grants {
		if g.ID != "" && g.ID == ownerID {
			continue
		}
		out = append(out, g)
	}
	return out
}

// requestedGrants reads the ACL a write (PUT, CopyObject,
// CreateMultipartUpload, CreateBucket, Put…Acl without a body) asks
// for: x-amz-acl or x-amz-grant-* (both is InvalidRequest), as the
// canned ACL's name ("" when none) and the grants (a canned ACL's group
// grants included). set says either was given.
func (req *request) requestedGrants(ctx context.Context) (canned string, grants []Grant, set bool, err error) {
	h := req.r.Header
	c := h.Get("X-Amz-Acl")
	if c != "" && hasGrantHeaders(h) {
		return "", nil, true, errBothCannedAndGrants
	}
	hg, anyGrant, err := parseGrantHeaders(h)
	if err != nil {
		return "", nil, true, err
	}
	if c != "" {
		n, err := cannedBucket(c)
		if err != nil {
			return "", nil, true, err
		}
		if err := req.checkCannedAllowed(ctx, c); err != nil {
			return "", nil, true, err
		}
		return n, cannedGrants(n), true, nil
	}
	if !anyGrant {
		return "", nil, false, nil
	}
	return "", hg, true, req.checkGrantsAllowed(ctx, hg)
}

// checkGrantsAllowed applies BucketOwnerEnforced and BlockPublicAcls to
// grants a request sets.
func (req *request) checkGrantsAllowed(ctx context.Context, grants []Grant) error {
	if len(grants) == 0 {
		return nil
	}
	if req.ownerEnforced(ctx) {
		return errACLNotSupported
	}
	for _, g := range grants {
		if g.URI != "" && req.publicAccessBlock(ctx).BlockPublicAcls {
			return withMsg(errAccessDenied, "Access Denied: the bucket's public access block forbids public ACLs")
		}
	}
	return nil
}

// objectGrants is what a new object's ACL is to be (PUT, CopyObject,
// CreateMultipartUpload): the grants asked for, the owner's implicit.
func (req *request) objectGrants(ctx context.Context) ([]Grant, error) {
	_, grants, set, err := req.requestedGrants(ctx)
	if err != nil || !set {
		return nil, err
	}
	if len(grants) > 0 {
		if _, ok := req.g.be.(ACLKeeper); !ok {
			return nil, withMsg(errNotImplemented, "This backend keeps no object ACLs.")
		}
	}
	owner, err := req.g.be.BucketOwner(ctx, req.rt.Bucket)
	if err != nil {
		return nil, err
	}
	return withoutOwner(grants, strconv.FormatUint(uint64(owner), 10)), nil
}

// aclBody is an AccessControlPolicy as a request sends it (xsi:type
// read by its local name).
type aclBody struct {
	Owner *struct {
		ID string
	}
	Grants []struct {
		Grantee struct {
			Type                  string `xml:"type,attr"`
			ID, URI, EmailAddress string
		}
		Permission string
	} `xml:"AccessControlList>Grant"`
}

// grantsFromBody reads an AccessControlPolicy body: S3's
// MalformedACLError for a missing owner, an unknown permission or
// grantee type, or a grantee without its id, uri or address.
func (req *request) grantsFromBody() ([]Grant, error) {
	if req.r.ContentLength == 0 {
		return nil, errMissingACLHeader
	}
	var doc aclBody
	if err := decodeXML(req.auth.Body, &doc); err != nil {
		return nil, errMalformedACL
	}
	if doc.Owner == nil || doc.Owner.ID == "" {
		return nil, errMalformedACL
	}
	var out []Grant
	for _, x := range doc.Grants {
		if !validPerm[x.Permission] {
			return nil, errMalformedACL
		}
		ge := x.Grantee
		switch {
		case ge.Type == "CanonicalUser" && ge.ID != "" && ge.URI == "" && ge.EmailAddress == "",
			ge.Type == "Group" && ge.URI != "" && ge.ID == "" && ge.EmailAddress == "",
			ge.Type == "AmazonCustomerByEmail" && ge.EmailAddress != "" && ge.ID == "" && ge.URI == "":
		default:
			return nil, errMalformedACL
		}
		g, err := grantee(ge.ID, ge.URI, ge.EmailAddress)
		if err != nil {
			return nil, err
		}
		g.Permission = x.Permission
		out = append(out, g)
	}
	return out, nil
}

// aclFromRequest reads a Put…Acl request: x-amz-acl, x-amz-grant-* or
// an AccessControlPolicy body. It returns the canned ACL (for a
// bucket's POSIX form) and every grant but the owner's.
func (req *request) aclFromRequest(ctx context.Context, ownerID string) (string, []Grant, error) {
	if (req.r.Header.Get("X-Amz-Acl") != "" || hasGrantHeaders(req.r.Header)) && req.r.ContentLength > 0 {
		return "", nil, errUnexpectedContent
	}
	canned, grants, set, err := req.requestedGrants(ctx)
	if err != nil {
		return "", nil, err
	}
	if !set {
		if grants, err = req.grantsFromBody(); err != nil {
			return "", nil, err
		}
		if err := req.checkGrantsAllowed(ctx, withoutOwner(grants, ownerID)); err != nil {
			return "", nil, err
		}
	}
	grants = withoutOwner(grants, ownerID)
	if canned == "" {
		canned = cannedOf(grants)
	}
	return canned, grants, nil
}

// bucketGrants returns a bucket's stored grants (nil when none).
func (req *request) bucketGrants(ctx context.Context, bucket string) []Grant {
	raw, err := req.g.be.BucketConfig(ctx, bucket, confACL)
	if err != nil || raw == nil {
		return nil
	}
	var gs []Grant
	json.Unmarshal(raw, &gs)
	return gs
}

func (req *request) aclDocument(o owner, grants []Grant) accessControlPolicy {
	doc := accessControlPolicy{Xmlns: s3NS, Owner: o, Grants: []grantXML{{
		Grantee: granteeXML{XMLNS: xsiNS, Type: "CanonicalUser", ID: o.ID, DisplayName: o.DisplayName}, Permission: permFullControl}}}
	seen := map[Grant]bool{}
	for _, g := range grants {
		if seen[g] {
			continue
		}
		seen[g] = true
		x := grantXML{Grantee: granteeXML{XMLNS: xsiNS, Type: "Group", URI: g.URI}, Permission: g.Permission}
		if g.ID != "" {
			uid, _ := strconv.ParseUint(g.ID, 10, 32)
			u := req.ownerOf(uint32(uid))
			x.Grantee = granteeXML{XMLNS: xsiNS, Type: "CanonicalUser", ID: g.ID, DisplayName: u.DisplayName}
		}
		doc.Grants = append(doc.Grants, x)
	}
	return doc
}

// versionQuery is the request's versionId ("" the latest).
func (req *request) versionQuery() string { return req.r.URL.Query().Get("versionId") }

// headObjectAs describes version vid ("" the latest) of key as id.
func (req *request) headObjectAs(ctx context.Context, id Identity, bucket, key, vid string) (ObjectInfo, error) {
	if v, ok := req.g.be.(Versioner); ok {
		return v.HeadVersion(ctx, id, bucket, key, vid)
	}
	if vid != "" && vid != NullVersion {
		return ObjectInfo{}, withMsg(errNoSuchVersion, "The specified version does not exist.")
	}
	return req.g.be.HeadObject(ctx, id, bucket, key)
}

func (req *request) getACL(ctx context.Context) error {
	bi, err := req.g.be.HeadBucket(ctx, req.id, req.rt.Bucket)
	if err != nil {
		return err
	}
	if req.rt.Key != "" {
		oi, err := req.headObjectAs(ctx, req.id, req.rt.Bucket, req.rt.Key, req.versionQuery())
		if err != nil {
			return err
		}
		if oi.DeleteMarker {
			return errMethodNotAllowed
		}
		return req.writeXML(200, req.aclDocument(req.ownerOf(bi.Owner), oi.Meta.ACL))
	}
	canned, err := req.g.be.BucketACL(ctx, req.id, req.rt.Bucket)
	if err != nil {
		return err
	}
	return req.writeXML(200, req.aclDocument(req.ownerOf(bi.Owner), append(cannedGrants(canned), req.bucketGrants(ctx, req.rt.Bucket)...)))
}

func (req *request) putBucketACL(ctx context.Context) error {
	if err := req.requireOwner(ctx); err != nil {
		return err
	}
	bi, err := req.g.be.HeadBucket(ctx, req.id, req.rt.Bucket)
	if err != nil {
		return err
	}
	canned, grants, err := req.aclFromRequest(ctx, req.ownerOf(bi.Owner).ID)
	if err != nil {
		return err
	}
	if err := req.checkCannedAllowed(ctx, canned); err != nil {
		return err
	}
	if err := req.setBucketGrants(ctx, canned, grants); err != nil {
		return err
	}
	return req.ok()
}

// setBucketGrants stores a bucket's ACL: its canned part as the POSIX
// mode, the grants a canned ACL does not hold in its "acl" config.
func (req *request) setBucketGrants(ctx context.Context, canned string, grants []Grant) error {
	rest := grants[:0:0]
	inCanned := map[Grant]bool{}
	for _, g := range cannedGrants(canned) {
		inCanned[g] = true
	}
	for _, g := range grants {
		if !inCanned[g] {
			rest = append(rest, g)
		}
	}
	var raw []byte
	if len(rest) > 0 {
		raw, _ = json.Marshal(rest)
	}
	if err := req.g.be.PutBucketACL(ctx, req.id, req.rt.Bucket, canned); err != nil {
		return err
	}
	if raw != nil || req.bucketGrants(ctx, req.rt.Bucket) != nil {
		if err := req.g.be.PutBucketConfig(ctx, req.id, req.rt.Bucket, confACL, raw); err != nil {
			return err
		}
	}
	return nil
}

func (req *request) putObjectACL(ctx context.Context) error {
	vid := req.versionQuery()
	oi, err := req.headObjectAs(ctx, req.id, req.rt.Bucket, req.rt.Key, vid)
	if err != nil {
		return err
	}
	if oi.DeleteMarker {
		return errMethodNotAllowed
	}
	bi, err := req.g.be.HeadBucket(ctx, req.id, req.rt.Bucket)
	if err != nil {
		return err
	}
	_, grants, err := req.aclFromRequest(ctx, req.ownerOf(bi.Owner).ID)
	if err != nil {
		return err
	}
	k, ok := req.g.be.(ACLKeeper)
	if !ok {
		if len(grants) == 0 {
			return req.ok()
		}
		return withMsg(errNotImplemented, "This backend keeps no object ACLs.")
	}
	if _, err := k.PutObjectACL(ctx, req.id, req.rt.Bucket, req.rt.Key, vid, grants); err != nil {
		return err
	}
	if oi.VersionID != "" {
		req.w.Header().Set("x-amz-version-id", oi.VersionID)
	}
	return req.ok()
}

// aclPermission is the ACL permission an action needs, and whether the
// object's ACL (else the bucket's) decides; "" when ACLs never give it.
func aclPermission(action string) (perm string, object bool) {
	switch action {
	case "GetObject", "HeadObject", "GetObjectAttributes":
		return permRead, true
	case "GetObjectAcl":
		return permReadACP, true
	case "PutObjectAcl":
		return permWriteACP, true
	case "ListObjects", "ListObjectsV2", "ListObjectVersions", "ListMultipartUploads", "HeadBucket":
		return permRead, false
	case "PutObject", "DeleteObject", "DeleteObjects", "CopyObject", "CreateMultipartUpload", "UploadPart",
		"UploadPartCopy", "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts":
		return permWrite, false
	case "GetBucketAcl":
		return permReadACP, false
	case "PutBucketAcl":
		return permWriteACP, false
	}
	return "", false
}

// grants reports whether gs give perm to the request's signer.
func (req *request) grantsPerm(ctx context.Context, gs []Grant, perm string) bool {
	if len(gs) == 0 {
		return false
	}
	ignoreGroups := false
	checked := false
	uid := strconv.FormatUint(uint64(req.signer.Uid), 10)
	for _, g := range gs {
		if g.Permission != perm && g.Permission != permFullControl {
			continue
		}
		if g.URI != "" && !checked {
			ignoreGroups, checked = req.publicAccessBlock(ctx).IgnorePublicAcls, true
		}
		switch {
		case g.ID != "" && !req.signer.Anonymous() && g.ID == uid:
			return true
		case g.URI == groupAllUsers && !ignoreGroups:
			return true
		case g.URI == groupAuthUsers && !req.signer.Anonymous() && !ignoreGroups:
			return true
		}
	}
	return false
}

// applyACL serves a request as the bucket's owner when a grant gives
// the requester what the action needs (see the package's ACL notes).
// It reports whether one did.
func (req *request) applyACL(ctx context.Context) (bool, error) {
	perm, object := aclPermission(req.rt.Action)
	if perm == "" || req.rt.Bucket == "" || object && req.rt.Key == "" {
		return false, nil
	}
	owner, err := req.g.be.BucketOwner(ctx, req.rt.Bucket)
	if err != nil {
		return false, nil // the action answers NoSuchBucket
	}
	if !req.id.Anonymous() && (req.id.Uid == owner || req.id.Uid == 0) || req.ownerEnforced(ctx) {
		return false, nil
	}
	oid := req.g.identityOf(owner)
	var gs []Grant
	if object {
		oi, err := req.headObjectAs(ctx, oid, req.rt.Bucket, req.rt.Key, req.versionQuery())
		if err != nil {
			return false, nil
		}
		gs = oi.Meta.ACL
	} else {
		gs = req.bucketGrants(ctx, req.rt.Bucket)
	}
	if !req.grantsPerm(ctx, gs, perm) {
		return false, nil
	}
	if src := req.r.Header.Get("X-Amz-Copy-Source"); src != "" {
		sb, sk, svid, err := copySource(req.r.Header)
		if err != nil || sb != req.rt.Bucket {
			return false, nil
		}
		oi, err := req.headObjectAs(ctx, oid, sb, sk, svid)
		if err != nil || !req.grantsPerm(ctx, oi.Meta.ACL, permRead) {
			return false, nil
		}
	}
	req.id = oid
	req.viaPolicy = true
	return true, nil
}
