package s3

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"hash"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// POST Object: an HTML form upload (multipart/form-data) to a bucket.
// The form carries its own authentication, a policy document signed with
// SigV4 or SigV2 (sigv4.Verifier.VerifyPostPolicy), whose conditions
// every form field must satisfy. Fields before the "file" part are read
// (bounded); the file streams to the backend like a PUT body of unknown
// length, checked against the policy's content-length-range before it
// commits. Fields after the file are ignored, as in S3.

const (
	maxPostField  = 20 << 10 // a policy document is at most 20 KiB
	maxPostFields = 1 << 20
)

var errPolicy = func(msg string) *apiError { return apiErr("AccessDenied", 403, "Invalid according to Policy: "+msg) }

type postPolicy struct {
	Expiration string            `json:"expiration"`
	Conditions []json.RawMessage `json:"conditions"`
}

// postForm is the form's fields before the file, by lower-case name.
type postForm struct {
	fields   map[string]string
	names    map[string]string // lower-case -> as sent (user metadata keeps its case)
	file     *multipart.Part
	filename string
}

func readPostForm(r *http.Request) (*postForm, error) {
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return nil, withMsg(errMalformedPOST, "The body of your POST request is not well-formed multipart/form-data.")
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	f := &postForm{fields: map[string]string{}, names: map[string]string{}}
	total := 0
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil, withMsg(errInvalidArgument, "POST requires exactly one file upload per request.")
		}
		if err != nil {
			return nil, withMsg(errMalformedPOST, "The body of your POST request is not well-formed multipart/form-data.")
		}
		name := p.FormName()
		if strings.EqualFold(name, "file") {
			f.file, f.filename = p, p.FileName()
			return f, nil
		}
		b, err := io.ReadAll(io.LimitReader(p, maxPostField+1))
		if err != nil {
			return nil, withMsg(errMalformedPOST, "The body of your POST request is not well-formed multipart/form-data.")
		}
		if len(b) > maxPostField {
			return nil, withMsg(errInvalidArgument, "The form field "+name+" is too large.")
		}
		if total += len(b); total > maxPostFields {
			return nil, withMsg(errMaxPostPreData, "Your POST request fields preceding the upload file were too large.")
		}
		ln := strings.ToLower(name)
		if _, dup := f.fields[ln]; dup {
			return nil, withMsg(errInvalidArgument, "The form field "+name+" is given more than once.")
		}
		f.fields[ln], f.names[ln] = string(b), name
	}
}

var (
	errMalformedPOST  = apiErr("MalformedPOSTRequest", 400, "The body of your POST request is not well-formed multipart/form-data.")
	errMaxPostPreData = apiErr("MaxPostPreDataLengthExceeded", 400, "Your POST request fields preceding the upload file were too large.")
	errInvalidPolicy  = apiErr("InvalidPolicyDocument", 400, "The content of the form does not meet the conditions specified in the policy document.")
)

// notPolicyFields are the fields S3 does not require conditions for.
var notPolicyFields = map[string]bool{"policy": true, "signature": true, "x-amz-signature": true, "awsaccesskeyid": true, "file": true}

// checkPolicy applies the policy's conditions to the form; it returns the
// content-length-range (max -1 when none).
func checkPolicy(p *postPolicy, form map[string]string, now time.Time) (minLen, maxLen int64, err error) {
	maxLen = -1
	exp, perr := time.Parse(time.RFC3339Nano, p.Expiration)
	if perr != nil {
		return 0, 0, withMsg(errInvalidPolicy, "Invalid Policy: Invalid 'expiration' value: '"+p.Expiration+"'")
	}
	if now.After(exp) {
		return 0, 0, errPolicy("Policy expired.")
	}
	covered := map[string]bool{}
	value := func(name string) (string, string) {
		n := strings.ToLower(strings.TrimPrefix(name, "$"))
		return n, form[n]
	}
	for _, raw := range p.Conditions {
		var exact map[string]string
		if json.Unmarshal(raw, &exact) == nil {
			for k, want := range exact {
				n, got := value("$" + k)
				covered[n] = true
				if got != want {
					return 0, 0, errPolicy(fmt.Sprintf("Policy Condition failed: [\"eq\", \"$%s\", %q]", k, want))
				}
			}
			continue
		}
		var arr []json.RawMessage
		if json.Unmarshal(raw, &arr) != nil || len(arr) != 3 {
			return 0, 0, withMsg(errInvalidPolicy, "Invalid Policy: Invalid Condition: "+string(raw))
		}
		var op string
		if json.Unmarshal(arr[0], &op) != nil {
			return 0, 0, withMsg(errInvalidPolicy, "Invalid Policy: Invalid Condition: "+string(raw))
		}
		switch strings.ToLower(op) {
		case "content-length-range":
			var lo, hi int64
			if json.Unmarshal(arr[1], &lo) != nil || json.Unmarshal(arr[2], &hi) != nil || lo < 0 || hi < lo {
				return 0, 0, withMsg(errInvalidPolicy, "Invalid Policy: Invalid content-length-range: "+string(raw))
			}
			minLen, maxLen = lo, hi
		case "eq", "starts-with":
			var field, want string
			if json.Unmarshal(arr[1], &field) != nil || json.Unmarshal(arr[2], &want) != nil || !strings.HasPrefix(field, "$") {
				return 0, 0, withMsg(errInvalidPolicy, "Invalid Policy: Invalid Condition: "+string(raw))
			}
			n, got := value(field)
			covered[n] = true
			ok := got == want
			if strings.ToLower(op) == "starts-with" {
				ok = strings.HasPrefix(got, want)
				if n == "content-type" {
					// A list of types: each must start so.
					ok = true
					for _, t := range strings.Split(got, ",") {
						ok = ok && strings.HasPrefix(strings.TrimSpace(t), want)
					}
				}
			}
			if !ok {
				return 0, 0, errPolicy(fmt.Sprintf("Policy Condition failed: [%q, %q, %q]", op, field, want))
			}
		default:
			return 0, 0, withMsg(errInvalidPolicy, "Invalid Policy: Invalid Condition: "+string(raw))
		}
	}
	var extra []string
	for n := range form {
		if !covered[n] && !notPolicyFields[n] && !strings.HasPrefix(n, "x-ignore-") {
			extra = append(extra, n)
		}
	}
	if len(extra) > 0 {
		return 0, 0, errPolicy("Extra input fields: " + strings.Join(extra, ", "))
	}
	return minLen, maxLen, nil
}

// rangeReader enforces a content-length-range and the PUT size limit,
// and hashes the body; it lets io.EOF through only when both hold.
type rangeReader struct {
	r        io.Reader
	md5      hash.Hash
	n        int64
	min, max int64
}

func (l *rangeReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.md5.Write(p[:n])
	l.n += int64(n)
	if l.n > l.max {
		if l.max < MaxPutSize {
			return n, errPolicy("Your proposed upload exceeds the maximum allowed size")
		}
		return n, errEntityTooLarge
	}
	if err == io.EOF && l.n < l.min {
		return n, errPolicy("Your proposed upload is smaller than the minimum allowed size")
	}
	return n, err
}

type postResponse struct {
	XMLName  xml.Name `xml:"PostResponse"`
	Location string
	Bucket   string
	Key      string
	ETag     string
}

func (req *request) postObject(ctx context.Context) error {
	form, err := readPostForm(req.r)
	if err != nil {
		return err
	}
	ak, err := req.g.verifier.VerifyPostPolicy(form.fields)
	if err != nil {
		return err
	}
	if ak == "" {
		// Anonymous writes are never allowed.
		return errAccessDenied
	}
	req.id = req.g.keys[ak].Identity
	form.fields["bucket"] = req.rt.Bucket
	rawPolicy, err := base64.StdEncoding.DecodeString(form.fields["policy"])
	var p postPolicy
	if err != nil || json.Unmarshal(rawPolicy, &p) != nil {
		return withMsg(errInvalidPolicy, "Invalid Policy: Invalid JSON.")
	}
	key := form.fields["key"]
	if key == "" {
		return withMsg(errInvalidArgument, "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.")
	}
	key = strings.ReplaceAll(key, "${filename}", form.filename)
	form.fields["key"] = key
	minLen, maxLen, err := checkPolicy(&p, form.fields, req.g.cfg.Now())
	if err != nil {
		return err
	}
	if e := validateKey(key); e != nil {
		return e
	}
	req.rt.Key = key
	if _, err := req.applyPolicy(ctx); err != nil {
		return err
	}
	h := http.Header{}
	for ln, v := range form.fields {
		h.Set(form.names[ln], v)
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", form.file.Header.Get("Content-Type"))
	}
	meta, err := metaFromHeaders(h)
	if err != nil {
		return err
	}
	if maxLen < 0 || maxLen > MaxPutSize {
		maxLen = MaxPutSize
	}
	// The bucket's default retention applies to form uploads too.
	lock, locked, err := req.requestedLock(ctx)
	if err != nil {
		return err
	}
	body := &rangeReader{r: form.file, md5: md5.New(), min: minLen, max: maxLen}
	info, err := req.g.be.PutObject(ctx, req.id, req.rt.Bucket, key, PutInput{
		Body: body, Size: -1, Meta: meta,
		Digest: func() Digest { return Digest{MD5: hex.EncodeToString(body.md5.Sum(nil))} },
	}, WriteCond{})
	if err != nil {
		return err
	}
	if locked {
		if err := req.applyLock(ctx, lock, &info); err != nil {
			return err
		}
	}
	scheme := "http"
	if req.r.TLS != nil {
		scheme = "https"
	}
	loc := scheme + "://" + req.r.Host + "/" + req.rt.Bucket + "/" + (&url.URL{Path: key}).EscapedPath()
	w := req.w.Header()
	w.Set("ETag", quoteETag(info.ETag))
	w.Set("Location", loc)
	redirect := form.fields["success_action_redirect"]
	if redirect == "" {
		redirect = form.fields["redirect"]
	}
	if u, err := url.Parse(redirect); redirect != "" && err == nil && u.Scheme != "" {
		q := u.Query()
		q.Set("bucket", req.rt.Bucket)
		q.Set("key", key)
		q.Set("etag", quoteETag(info.ETag))
		u.RawQuery = q.Encode()
		w.Set("Location", u.String())
		req.w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	switch status, _ := strconv.Atoi(form.fields["success_action_status"]); status {
	case 200:
		return req.ok()
	case 201:
		return req.writeXML(201, postResponse{Location: loc, Bucket: req.rt.Bucket, Key: key, ETag: quoteETag(info.ETag)})
	}
	return req.noContent()
}
