// Package s3 is Shoal's S3-compatible REST API: request routing (path-
// and virtual-hosted-style), SigV4 authentication (through sigv4), the
// handlers of every supported action, S3's XML bodies and error codes. It
// stores nothing itself: every action calls a Backend, an interface this
// package defines and the Shoal adapter (or mem, for tests) implements.
//
// Invariants:
//   - Fail closed: a request is served only when its signature (SigV4,
//     SigV2, or a POST form's signed policy) verifies, or when it is
//     anonymous and either a read of a public bucket or allowed by the
//     bucket's policy. A bucket policy's Deny refuses any request it
//     matches but the owner's management of the policy.
//   - Every response carries x-amz-request-id, and an error body's
//     RequestId equals it.
//   - Bodies stream: the gateway never holds a whole object in memory;
//     uploads reach the backend as readers that fail (instead of io.EOF)
//     when a signature, checksum, MD5 or length check fails, so a backend
//     that commits on io.EOF never stores rejected data.
//   - Keys reaching the backend are valid (ValidKey), parts respect S3's
//     limits (5 MiB minimum but for the last, 5 GiB maximum, 10,000 parts).
package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shoalfs/shoal/internal/s3/sigv4"
)

// Credential is an access key pair and the identity it acts as.
type Credential struct {
	AccessKey string
	SecretKey string
	Identity  Identity
}

// Config configures a Gateway. The zero value (plus a Backend) is valid
// and rejects every signed request, since it knows no keys.
type Config struct {
	Backend     Backend
	Credentials []Credential
	// Region is reported by GetBucketLocation; "" means "us-east-1".
	// Requests signed for any region are accepted.
	Region string
	// BaseDomain enables virtual-hosted-style requests: Host
	// "<bucket>.<BaseDomain>" addresses the bucket. Path-style always works.
	BaseDomain string
	// MaxSkew bounds clock skew; 0 means 15 minutes.
	MaxSkew time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives internal errors; nil discards.
	Logger *slog.Logger
}

// Gateway serves the S3 API over a Backend.
type Gateway struct {
	cfg      Config
	be       Backend
	keys     map[string]Credential
	names    map[uint32]string // uid -> the first access key acting as it (owner display names)
	verifier *sigv4.Verifier
	log      *slog.Logger
	idPrefix string
	seq      atomic.Uint64
}

// New returns a Gateway for cfg.
func New(cfg Config) (*Gateway, error) {
	if cfg.Backend == nil {
		return nil, fmt.Errorf("s3: new: no backend")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Gateway{cfg: cfg, be: cfg.Backend, keys: map[string]Credential{}, names: map[uint32]string{}, log: cfg.Logger}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	for _, c := range cfg.Credentials {
		if c.AccessKey == "" || c.SecretKey == "" {
			return nil, fmt.Errorf("s3: new: empty access or secret key")
		}
		c.Identity.AccessKey = c.AccessKey
		g.keys[c.AccessKey] = c
		if _, ok := g.names[c.Identity.Uid]; !ok {
			g.names[c.Identity.Uid] = c.AccessKey
		}
	}
	g.verifier = &sigv4.Verifier{
		Secret: func(ak string) (string, bool) {
			c, ok := g.keys[ak]
			return c.SecretKey, ok
		},
		Now:     cfg.Now,
		MaxSkew: cfg.MaxSkew,
	}
	var b [4]byte
	rand.Read(b[:])
	g.idPrefix = strings.ToUpper(hex.EncodeToString(b[:]))
	return g, nil
}

// request is one request in flight.
type request struct {
	g     *Gateway
	w     http.ResponseWriter
	r     *http.Request
	rt    route
	id    Identity
	auth  *sigv4.Auth
	reqID string
	// signer is who signed the request, whatever id acts as.
	signer Identity
	// viaPolicy: a bucket policy's Allow made the request act as the
	// bucket's owner.
	viaPolicy bool
}

func (g *Gateway) requestID() string {
	return fmt.Sprintf("%s%08X", g.idPrefix, g.seq.Add(1))
}

// policyActions manage a bucket's policy: its Deny does not apply.
var policyActions = map[string]bool{"PutBucketPolicy": true, "GetBucketPolicy": true, "DeleteBucketPolicy": true, "GetBucketPolicyStatus": true}

// readActions may be served anonymously on a public bucket.
var readActions = map[string]bool{
	"GetObject": true, "HeadObject": true, "ListObjects": true, "ListObjectsV2": true,
	"HeadBucket": true, "GetBucketLocation": true, "GetObjectAttributes": true,
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := &request{g: g, w: w, r: r, reqID: g.requestID()}
	h := w.Header()
	h.Set("x-amz-request-id", req.reqID)
	h.Set("x-amz-id-2", req.reqID)
	h.Set("Server", "Shoal")
	rt, aerr := parseRoute(r.Method, r.Host, r.URL.Path, r.URL.Query(), r.Header, g.cfg.BaseDomain)
	req.rt = rt
	if aerr != nil {
		req.fail(aerr)
		return
	}
	req.corsHeaders(r.Context())
	switch rt.Action {
	case "PreflightCORS":
		// Browsers send preflights without credentials.
		req.id = AnonymousIdentity
		if err := req.preflight(r.Context()); err != nil {
			req.fail(err)
		}
		return
	case "PostObject":
		// The form carries its own signature (a signed policy).
		req.id = AnonymousIdentity
		if err := req.postObject(r.Context()); err != nil {
			req.fail(err)
		}
		return
	}
	var opts []sigv4.Option
	if rt.Action == "CompleteMultipartUpload" {
		opts = append(opts, sigv4.IgnoreChecksumHeaders())
	}
	if rt.Virtual {
		opts = append(opts, sigv4.V2Bucket(rt.Bucket))
	}
	auth, err := g.verifier.Verify(r, opts...)
	if err != nil {
		req.fail(err)
		return
	}
	req.auth = auth
	req.id = AnonymousIdentity
	if !auth.Anonymous() {
		req.id = g.keys[auth.AccessKey].Identity
	}
	req.signer = req.id
	allowed := false
	if !policyActions[rt.Action] {
		// The bucket's owner may always manage its policy (as S3's
		// account root may), so a Deny cannot lock them out.
		if allowed, err = req.applyPolicy(r.Context()); err != nil {
			req.fail(err)
			return
		}
	}
	if !allowed {
		if allowed, err = req.applyACL(r.Context()); err != nil {
			req.fail(err)
			return
		}
	}
	if auth.Anonymous() && !allowed {
		if !readActions[rt.Action] || rt.Bucket == "" {
			req.fail(errAccessDenied)
			return
		}
		pub, err := g.be.BucketPublic(r.Context(), rt.Bucket)
		if err != nil || !pub || req.publicAccessBlock(r.Context()).IgnorePublicAcls {
			req.fail(errAccessDenied)
			return
		}
	}
	if err := req.checkExpectedOwners(r.Context()); err != nil {
		req.fail(err)
		return
	}
	if err := req.dispatch(r.Context()); err != nil {
		req.fail(err)
	}
}

// checkExpectedOwners applies x-amz-expected-bucket-owner (and, for
// copies, x-amz-source-expected-bucket-owner): a bucket owned by another
// than the one named is AccessDenied, as in S3. An owner is named by its
// canonical id (the uid) or its access key. A missing bucket is left to
// the action, which answers NoSuchBucket.
func (req *request) checkExpectedOwners(ctx context.Context) error {
	check := func(bucket, want string) error {
		if want == "" || bucket == "" {
			return nil
		}
		owner, err := req.g.be.BucketOwner(ctx, bucket)
		if err != nil {
			return nil
		}
		if want != strconv.FormatUint(uint64(owner), 10) && (req.g.names[owner] == "" || want != req.g.names[owner]) {
			return errAccessDenied // S3 says no more
		}
		return nil
	}
	h := req.r.Header
	if err := check(req.rt.Bucket, h.Get("X-Amz-Expected-Bucket-Owner")); err != nil {
		return err
	}
	if want := h.Get("X-Amz-Source-Expected-Bucket-Owner"); want != "" && h.Get("X-Amz-Copy-Source") != "" {
		if sb, _, _, err := copySource(h); err == nil {
			return check(sb, want)
		}
	}
	return nil
}

func (req *request) dispatch(ctx context.Context) error {
	switch req.rt.Action {
	case "ListBuckets":
		return req.listBuckets(ctx)
	case "CreateBucket":
		return req.createBucket(ctx)
	case "HeadBucket":
		return req.headBucket(ctx)
	case "DeleteBucket":
		return req.deleteBucket(ctx)
	case "GetBucketLocation":
		return req.getBucketLocation(ctx)
	case "GetBucketTagging":
		return req.getBucketTagging(ctx)
	case "PutBucketTagging":
		return req.putBucketTagging(ctx)
	case "DeleteBucketTagging":
		return req.deleteBucketTagging(ctx)
	case "ListObjects":
		return req.listObjects(ctx, false)
	case "ListObjectsV2":
		return req.listObjects(ctx, true)
	case "DeleteObjects":
		return req.deleteObjects(ctx)
	case "PutObject":
		return req.putObject(ctx)
	case "GetObject":
		return req.getObject(ctx, false)
	case "HeadObject":
		return req.getObject(ctx, true)
	case "DeleteObject":
		return req.deleteObject(ctx)
	case "CopyObject":
		return req.copyObject(ctx)
	case "GetObjectTagging":
		return req.getObjectTagging(ctx)
	case "PutObjectTagging":
		return req.putObjectTagging(ctx)
	case "DeleteObjectTagging":
		return req.deleteObjectTagging(ctx)
	case "GetObjectAttributes":
		return req.getObjectAttributes(ctx)
	case "CreateMultipartUpload":
		return req.createMultipart(ctx)
	case "UploadPart":
		return req.uploadPart(ctx, false)
	case "UploadPartCopy":
		return req.uploadPart(ctx, true)
	case "ListParts":
		return req.listParts(ctx)
	case "ListMultipartUploads":
		return req.listUploads(ctx)
	case "CompleteMultipartUpload":
		return req.completeMultipart(ctx)
	case "AbortMultipartUpload":
		return req.abortMultipart(ctx)
	case "ListObjectVersions":
		return req.listObjectVersions(ctx)
	case "PutPublicAccessBlock":
		return req.putPublicAccessBlock(ctx)
	case "GetPublicAccessBlock":
		return req.getPublicAccessBlock(ctx)
	case "DeletePublicAccessBlock":
		return req.deleteBucketConfig(ctx, confPublicAccessBlock)
	case "PutBucketOwnershipControls":
		return req.putOwnershipControls(ctx)
	case "GetBucketOwnershipControls":
		return req.getOwnershipControls(ctx)
	case "DeleteBucketOwnershipControls":
		return req.deleteBucketConfig(ctx, confOwnership)
	case "PutBucketPolicy":
		return req.putBucketPolicy(ctx)
	case "GetBucketPolicy":
		return req.getBucketPolicy(ctx)
	case "DeleteBucketPolicy":
		return req.deleteBucketPolicy(ctx)
	case "GetBucketPolicyStatus":
		return req.getBucketPolicyStatus(ctx)
	case "GetBucketAcl", "GetObjectAcl":
		return req.getACL(ctx)
	case "PutBucketAcl":
		return req.putBucketACL(ctx)
	case "PutObjectAcl":
		return req.putObjectACL(ctx)
	case "PutObjectLockConfiguration":
		return req.putObjectLockConfiguration(ctx)
	case "GetObjectLockConfiguration":
		return req.getObjectLockConfiguration(ctx)
	case "PutObjectRetention":
		return req.putObjectRetention(ctx)
	case "GetObjectRetention":
		return req.getObjectRetention(ctx)
	case "PutObjectLegalHold":
		return req.putObjectLegalHold(ctx)
	case "GetObjectLegalHold":
		return req.getObjectLegalHold(ctx)
	case "PutBucketVersioning":
		return req.putBucketVersioning(ctx)
	case "GetBucketVersioning":
		return req.getBucketVersioning(ctx)
	case "PutBucketCors":
		return req.putBucketCors(ctx)
	case "GetBucketCors":
		return req.getBucketCors(ctx)
	case "DeleteBucketCors":
		return req.deleteBucketCors(ctx)
	}
	if ok, err := req.serveUnconfigured(ctx); ok {
		return err
	}
	return errNotImplemented
}

// errorBody is S3's <Error> document.
type errorBody struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string
	Message    string
	BucketName string `xml:",omitempty"`
	Key        string `xml:",omitempty"`
	Resource   string
	RequestId  string
	HostId     string
}

// fail answers with the S3 error for err. Errors after the response
// started cannot change it; they only end the request.
func (req *request) fail(err error) {
	ae := toAPIError(err)
	if ae == errInternal {
		req.g.log.Error("s3: internal error", "action", req.rt.Action, "bucket", req.rt.Bucket, "key", req.rt.Key, "err", err)
	}
	h := req.w.Header()
	h.Del("ETag")
	h.Del("Last-Modified")
	if req.r.Method == http.MethodHead {
		req.w.WriteHeader(ae.Status)
		return
	}
	body := errorBody{
		Code: ae.Code, Message: ae.Message, BucketName: req.rt.Bucket, Key: req.rt.Key,
		Resource: req.r.URL.Path, RequestId: req.reqID, HostId: req.reqID,
	}
	if ae.Code == "NoSuchBucket" {
		body.Key = ""
	}
	req.writeXML(ae.Status, body)
}

func (req *request) writeXML(status int, v any) error {
	out, err := xml.Marshal(v)
	if err != nil {
		return err
	}
	h := req.w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", fmt.Sprint(len(xml.Header)+len(out)))
	req.w.WriteHeader(status)
	io.WriteString(req.w, xml.Header)
	req.w.Write(out)
	return nil
}

func (req *request) ok() error {
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (req *request) noContent() error {
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}
