package s3

import (
	"context"
	"encoding/xml"
	"net/http"
	"strings"
	"time"
)

// Object lock (WORM retention), served over a Locker backend:
//   - A bucket's lock configuration is its "objectLock" BucketConfig (the
//     XML S3 returns). Once set it stays: the bucket is versioned
//     (Enabled) for good, and versioning cannot be suspended.
//   - Each version carries its own ObjectLock. A new version gets the
//     request's x-amz-object-lock-* headers, else the bucket's default
//     retention, set right after the write (a crash between the two leaves
//     that one version unlocked).
//   - Deleting a version by id is refused (AccessDenied) while it is under
//     legal hold, under COMPLIANCE retention, or under GOVERNANCE retention
//     without x-amz-bypass-governance-retention: true. A delete without a
//     version id only adds a delete marker and an overwrite only adds a
//     version, so both are allowed.
//   - Retention may only grow: shortening or removing GOVERNANCE
//     retention needs the bypass header; COMPLIANCE can be extended, never
//     shortened, removed or turned into GOVERNANCE.

// ConfObjectLock is the BucketConfig holding a bucket's lock configuration.
const ConfObjectLock = "objectLock"

var (
	errNoObjectLockConfig = apiErr("NoSuchObjectLockConfiguration", 404, "The specified object does not have a ObjectLock configuration")
	errObjectLocked       = apiErr("AccessDenied", 403, "Access Denied because object protected by object lock.")
	errInvalidBucketState = apiErr("InvalidBucketState", 409, "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.")
)

type objectLockConfiguration struct {
	XMLName           xml.Name        `xml:"ObjectLockConfiguration"`
	Xmlns             string          `xml:"xmlns,attr,omitempty"`
	ObjectLockEnabled string          `xml:",omitempty"`
	Rule              *objectLockRule `xml:",omitempty"`
}

type objectLockRule struct {
	DefaultRetention struct {
		Mode  string
		Days  int `xml:",omitempty"`
		Years int `xml:",omitempty"`
	}
}

type retentionXML struct {
	XMLName         xml.Name `xml:"Retention"`
	Xmlns           string   `xml:"xmlns,attr,omitempty"`
	Mode            string   `xml:",omitempty"`
	RetainUntilDate string   `xml:",omitempty"`
}

type legalHoldXML struct {
	XMLName xml.Name `xml:"LegalHold"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Status  string
}

func (req *request) locker() (Locker, bool) {
	l, ok := req.g.be.(Locker)
	return l, ok
}

func (req *request) now() time.Time {
	if req.g.cfg.Now != nil {
		return req.g.cfg.Now()
	}
	return time.Now()
}

// lockConfig returns the bucket's lock configuration, nil when none.
func (req *request) lockConfig(ctx context.Context) (*objectLockConfiguration, error) {
	raw, err := req.g.be.BucketConfig(ctx, req.rt.Bucket, ConfObjectLock)
	if err != nil || raw == nil {
		return nil, err
	}
	var c objectLockConfiguration
	if err := xml.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// enableObjectLock stores a lock configuration, versioning the bucket.
func (req *request) enableObjectLock(ctx context.Context, c objectLockConfiguration) error {
	c.Xmlns, c.ObjectLockEnabled = s3NS, "Enabled"
	raw, err := xml.Marshal(c)
	if err != nil {
		return err
	}
	if err := req.g.be.PutBucketConfig(ctx, req.id, req.rt.Bucket, ConfVersioning, []byte("Enabled")); err != nil {
		return err
	}
	return req.g.be.PutBucketConfig(ctx, req.id, req.rt.Bucket, ConfObjectLock, raw)
}

func validMode(m string) bool { return m == "GOVERNANCE" || m == "COMPLIANCE" }

func (req *request) putObjectLockConfiguration(ctx context.Context) error {
	if err := req.requireOwner(ctx); err != nil {
		return err
	}
	var c objectLockConfiguration
	if err := decodeXML(req.auth.Body, &c); err != nil {
		return err
	}
	if c.ObjectLockEnabled != "Enabled" {
		return withMsg(errMalformedXML, "ObjectLockEnabled must be Enabled.")
	}
	if r := c.Rule; r != nil {
		d := r.DefaultRetention
		if !validMode(d.Mode) {
			return withMsg(errMalformedXML, "The retention mode must be GOVERNANCE or COMPLIANCE.")
		}
		if (d.Days > 0) == (d.Years > 0) || d.Days < 0 || d.Years < 0 || d.Days > 36500 || d.Years > 100 {
			return withMsg(errInvalidArgument, "Default retention needs exactly one of Days or Years, positive (at most 100 years).")
		}
	}
	if _, ok := req.locker(); !ok {
		return withMsg(errNotImplemented, "This storage does not keep object locks.")
	}
	cur, err := req.lockConfig(ctx)
	if err != nil {
		return err
	}
	if cur == nil {
		st, err := req.g.be.BucketConfig(ctx, req.rt.Bucket, ConfVersioning)
		if err != nil {
			return err
		}
		if string(st) != "Enabled" {
			return withMsg(apiErr("InvalidBucketState", 409, ""), "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")
		}
	}
	if err := req.enableObjectLock(ctx, c); err != nil {
		return err
	}
	return req.ok()
}

func (req *request) getObjectLockConfiguration(ctx context.Context) error {
	if _, err := req.g.be.HeadBucket(ctx, req.id, req.rt.Bucket); err != nil {
		return err
	}
	c, err := req.lockConfig(ctx)
	if err != nil {
		return err
	}
	if c == nil {
		return bucketSubresources["object-lock"].err
	}
	c.Xmlns = s3NS
	return req.writeXML(200, c)
}

// lockedVersion checks the bucket has object lock and the version
// exists, returning it.
func (req *request) lockedVersion(ctx context.Context) (Locker, string, ObjectInfo, error) {
	vid, err := req.versionID()
	if err != nil {
		return nil, "", ObjectInfo{}, err
	}
	v, vok := req.versioner()
	l, lok := req.locker()
	if !vok || !lok {
		return nil, "", ObjectInfo{}, errNoLockConfig
	}
	oi, err := v.HeadVersion(ctx, req.id, req.rt.Bucket, req.rt.Key, vid)
	if err != nil {
		return nil, "", ObjectInfo{}, err
	}
	c, err := req.lockConfig(ctx)
	if err != nil {
		return nil, "", ObjectInfo{}, err
	}
	if c == nil {
		return nil, "", ObjectInfo{}, errNoLockConfig
	}
	if oi.DeleteMarker {
		return nil, "", ObjectInfo{}, errMethodNotAllowed
	}
	return l, vid, oi, nil
}

// bypassGovernance reports whether the request may bypass GOVERNANCE
// retention of key: it asks to (x-amz-bypass-governance-retention: true)
// and the bucket's policy allows the signer s3:BypassGovernanceRetention
// on the key, or, the policy saying nothing of it, the signer owns the
// bucket (or is root). A policy's Deny of it always wins; an Allow of
// another action that made the request act as the owner gives no bypass.
func (req *request) bypassGovernance(ctx context.Context, key string) bool {
	if !strings.EqualFold(req.r.Header.Get("X-Amz-Bypass-Governance-Retention"), "true") {
		return false
	}
	signer := req.signer
	saved := req.id
	req.id = signer
	d, err := req.policyDecisionFor(ctx, "s3:BypassGovernanceRetention", "arn:aws:s3:::"+req.rt.Bucket+"/"+key)
	req.id = saved
	if err != nil || d == "Deny" {
		return false
	}
	if d == "Allow" {
		return true
	}
	if signer.Anonymous() {
		return false
	}
	if signer.Uid == 0 {
		return true
	}
	owner, err := req.g.be.BucketOwner(ctx, req.rt.Bucket)
	return err == nil && owner == signer.Uid
}

// retentionChange applies S3's rules to replacing retention cur by next.
func retentionChange(cur, next ObjectLock, now time.Time, bypass bool) error {
	if !cur.Retained(now) {
		return nil
	}
	weaker := next.Mode == "" || next.RetainUntil.Before(cur.RetainUntil)
	switch cur.Mode {
	case "COMPLIANCE":
		if weaker || next.Mode != "COMPLIANCE" {
			return errObjectLocked
		}
	case "GOVERNANCE":
		if weaker && !bypass {
			return errObjectLocked
		}
	}
	return nil
}

func (req *request) putObjectRetention(ctx context.Context) error {
	var r retentionXML
	if err := decodeXML(req.auth.Body, &r); err != nil {
		return err
	}
	var next ObjectLock
	if r.Mode != "" || r.RetainUntilDate != "" {
		if !validMode(r.Mode) {
			return withMsg(errMalformedXML, "The retention mode must be GOVERNANCE or COMPLIANCE.")
		}
		t, err := time.Parse(time.RFC3339, r.RetainUntilDate)
		if err != nil {
			return withMsg(errMalformedXML, "RetainUntilDate must be an ISO 8601 date.")
		}
		if !t.After(req.now()) {
			return withMsg(errInvalidArgument, "The retain until date must be in the future!")
		}
		next.Mode, next.RetainUntil = r.Mode, t.UTC()
	}
	l, vid, _, err := req.lockedVersion(ctx)
	if err != nil {
		return err
	}
	bypass, now := req.bypassGovernance(ctx, req.rt.Key), req.now()
	oi, err := l.PutVersionLock(ctx, req.id, req.rt.Bucket, req.rt.Key, vid, func(cur ObjectInfo) (ObjectLock, error) {
		if err := retentionChange(cur.Lock, next, now, bypass); err != nil {
			return ObjectLock{}, err
		}
		next.LegalHold = cur.Lock.LegalHold
		return next, nil
	})
	if err != nil {
		return err
	}
	req.setVersionHeaders(oi, false)
	return req.ok()
}

func (req *request) getObjectRetention(ctx context.Context) error {
	_, _, oi, err := req.lockedVersion(ctx)
	if err != nil {
		return err
	}
	if oi.Lock.Mode == "" {
		return errNoObjectLockConfig
	}
	return req.writeXML(200, retentionXML{Xmlns: s3NS, Mode: oi.Lock.Mode, RetainUntilDate: isoTime(oi.Lock.RetainUntil)})
}

func (req *request) putObjectLegalHold(ctx context.Context) error {
	var h legalHoldXML
	if err := decodeXML(req.auth.Body, &h); err != nil {
		return err
	}
	if h.Status != "ON" && h.Status != "OFF" {
		return withMsg(errMalformedXML, "The legal hold status must be ON or OFF.")
	}
	l, vid, _, err := req.lockedVersion(ctx)
	if err != nil {
		return err
	}
	oi, err := l.PutVersionLock(ctx, req.id, req.rt.Bucket, req.rt.Key, vid, func(cur ObjectInfo) (ObjectLock, error) {
		n := cur.Lock
		n.LegalHold = h.Status
		return n, nil
	})
	if err != nil {
		return err
	}
	req.setVersionHeaders(oi, false)
	return req.ok()
}

func (req *request) getObjectLegalHold(ctx context.Context) error {
	_, _, oi, err := req.lockedVersion(ctx)
	if err != nil {
		return err
	}
	if oi.Lock.LegalHold == "" {
		return errNoObjectLockConfig
	}
	return req.writeXML(200, legalHoldXML{Xmlns: s3NS, Status: oi.Lock.LegalHold})
}

// allowDelete is the DeleteVersion check object lock makes.
func (req *request) allowDelete(ctx context.Context, key string) func(ObjectInfo) error {
	now := req.now()
	return func(oi ObjectInfo) error {
		l := oi.Lock
		if l.LegalHold == "ON" || l.Retained(now) && (l.Mode == "COMPLIANCE" || !req.bypassGovernance(ctx, key)) {
			return errObjectLocked
		}
		return nil
	}
}

// requestedLock is the lock a write asks for: its x-amz-object-lock-*
// headers, else the bucket's default retention. ok is false when the
// bucket has no lock configuration (headers then are InvalidRequest).
func (req *request) requestedLock(ctx context.Context) (l ObjectLock, ok bool, err error) {
	h := req.r.Header
	mode, until, hold := h.Get("X-Amz-Object-Lock-Mode"), h.Get("X-Amz-Object-Lock-Retain-Until-Date"), h.Get("X-Amz-Object-Lock-Legal-Hold")
	asked := mode != "" || until != "" || hold != ""
	if !asked {
		if _, lok := req.locker(); !lok {
			return ObjectLock{}, false, nil
		}
	}
	c, err := req.lockConfig(ctx)
	if err != nil {
		return ObjectLock{}, false, err
	}
	if c == nil {
		if asked {
			return ObjectLock{}, false, withMsg(errNoLockConfig, "Bucket is missing ObjectLockConfiguration")
		}
		return ObjectLock{}, false, nil
	}
	if hold != "" {
		if hold != "ON" && hold != "OFF" {
			return ObjectLock{}, false, withMsg(errInvalidArgument, "x-amz-object-lock-legal-hold must be ON or OFF")
		}
		l.LegalHold = hold
	}
	switch {
	case mode != "" || until != "":
		t, err := time.Parse(time.RFC3339, until)
		if !validMode(mode) || err != nil {
			return ObjectLock{}, false, withMsg(errInvalidArgument, "x-amz-object-lock-mode and x-amz-object-lock-retain-until-date must come together, GOVERNANCE or COMPLIANCE and an ISO 8601 date")
		}
		if !t.After(req.now()) {
			return ObjectLock{}, false, withMsg(errInvalidArgument, "The retain until date must be in the future!")
		}
		l.Mode, l.RetainUntil = mode, t.UTC()
	case c.Rule != nil:
		d := c.Rule.DefaultRetention
		l.Mode, l.RetainUntil = d.Mode, req.now().AddDate(d.Years, 0, d.Days).UTC()
	}
	return l, true, nil
}

// applyLock sets the lock a write asked for on the version it made.
func (req *request) applyLock(ctx context.Context, l ObjectLock, info *ObjectInfo) error {
	lk, _ := req.locker()
	// As the service: the lock comes from the write's own headers or the
	// bucket's configuration, and a writer other than the bucket's owner
	// (a public-read-write bucket) may not change locks itself.
	service := Identity{AccessKey: req.id.AccessKey}
	oi, err := lk.PutVersionLock(ctx, service, req.rt.Bucket, req.rt.Key, renderVersion(info.VersionID), func(ObjectInfo) (ObjectLock, error) { return l, nil })
	if err != nil {
		return err
	}
	info.Lock = oi.Lock
	return nil
}

// setLockHeaders adds the version's lock to a GET or HEAD answer.
func setLockHeaders(h http.Header, l ObjectLock) {
	if l.Mode != "" {
		h.Set("x-amz-object-lock-mode", l.Mode)
		h.Set("x-amz-object-lock-retain-until-date", l.RetainUntil.UTC().Format(time.RFC3339))
	}
	if l.LegalHold != "" {
		h.Set("x-amz-object-lock-legal-hold", l.LegalHold)
	}
}
