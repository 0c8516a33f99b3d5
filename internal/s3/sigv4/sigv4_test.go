package sigv4

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The example credentials and time used throughout AWS's SigV4 docs.
const (
	exAK     = "AKIAIOSFODNN7EXAMPLE"
	exSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

var exTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

func exVerifier() *Verifier {
	return &Verifier{
		Secret: func(ak string) (string, bool) { return exSecret, ak == exAK },
		Now:    func() time.Time { return exTime },
	}
}

func readAll(t *testing.T, a *Auth) ([]byte, error) {
	t.Helper()
	return io.ReadAll(a.Body)
}

// AWS "Example: GET Object" (sig-v4-header-based-auth).
func TestAWSExampleGetObject(t *testing.T) {
	r := httptest.NewRequest("GET", "http://examplebucket.s3.amazonaws.com/test.txt", nil)
	r.Header.Set("Range", "bytes=0-9")
	r.Header.Set("X-Amz-Content-Sha256", EmptySHA256)
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
	a, err := exVerifier().Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	if a.AccessKey != exAK || a.Region != "us-east-1" {
		t.Fatalf("auth %+v", a)
	}
	if _, err := readAll(t, a); err != nil {
		t.Fatal(err)
	}
	// One byte of the signature changed.
	r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "f0e8", "f0e9", 1))
	if _, err := exVerifier().Verify(r); !errors.Is(err, ErrSignatureDoesNotMatch) {
		t.Fatalf("tampered signature: %v", err)
	}
}

// AWS "Example: PUT Object" with a signed payload hash.
func TestAWSExamplePutObject(t *testing.T) {
	body := "Welcome to Amazon S3."
	mk := func(b string) *http.Request {
		r := httptest.NewRequest("PUT", "http://examplebucket.s3.amazonaws.com/test$file.text", strings.NewReader(b))
		r.Header.Set("Date", "Fri, 24 May 2013 00:00:00 GMT")
		r.Header.Set("X-Amz-Date", "20130524T000000Z")
		r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
		r.Header.Set("X-Amz-Content-Sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
		return r
	}
	a, err := exVerifier().Verify(mk(body))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(t, a); err != nil || string(got) != body {
		t.Fatalf("body %q %v", got, err)
	}
	// Same length, one byte changed: the payload hash no longer matches.
	a, err = exVerifier().Verify(mk("Welcome to Amazon S4."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(t, a); !errors.Is(err, ErrContentSHA256Mismatch) {
		t.Fatalf("tampered payload: %v", err)
	}
}

// AWS "Example: presigned URL" (sigv4-query-string-auth).
func TestAWSExamplePresigned(t *testing.T) {
	u := "http://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
	v := exVerifier()
	if _, err := v.Verify(httptest.NewRequest("GET", u, nil)); err != nil {
		t.Fatal(err)
	}
	v.Now = func() time.Time { return exTime.Add(86401 * time.Second) }
	if _, err := v.Verify(httptest.NewRequest("GET", u, nil)); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	v.Now = func() time.Time { return exTime.Add(-time.Hour) }
	if _, err := v.Verify(httptest.NewRequest("GET", u, nil)); !errors.Is(err, ErrNotYetValid) {
		t.Fatalf("not yet valid: %v", err)
	}
	v = exVerifier()
	if _, err := v.Verify(httptest.NewRequest("GET", strings.Replace(u, "test.txt", "test.tx", 1), nil)); !errors.Is(err, ErrSignatureDoesNotMatch) {
		t.Fatalf("other path: %v", err)
	}
}

func chunkedRequest(body []byte) *http.Request {
	r := httptest.NewRequest("PUT", "http://s3.amazonaws.com/examplebucket/chunkObject.txt", bytes.NewReader(body))
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("X-Amz-Content-Sha256", StreamingPayload)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	r.Header.Set("Content-Length", "66824")
	r.ContentLength = 66824
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
	return r
}

// AWS "Example: PUT Object" in chunks (sigv4-streaming): 64 KiB + 1 KiB of 'a'.
func awsChunkedBody() []byte {
	var b bytes.Buffer
	b.WriteString("10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n")
	b.Write(bytes.Repeat([]byte("a"), 65536))
	b.WriteString("\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n")
	b.Write(bytes.Repeat([]byte("a"), 1024))
	b.WriteString("\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n")
	return b.Bytes()
}

func TestAWSExampleChunked(t *testing.T) {
	body := awsChunkedBody()
	if len(body) != 66824 {
		t.Fatalf("example body is %d bytes", len(body))
	}
	a, err := exVerifier().Verify(chunkedRequest(body))
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, a)
	if err != nil || len(got) != 66560 || a.Length != 66560 {
		t.Fatalf("decoded %d bytes, %v", len(got), err)
	}
	// Our encoder must produce the same bytes from the same seed.
	enc := EncodeSignedChunks(bytes.Repeat([]byte("a"), 66560), 65536, exSecret, "us-east-1", exTime, "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9", "")
	if !bytes.Equal(enc, body) {
		t.Fatal("EncodeSignedChunks differs from AWS's example")
	}
	// Tamper one data byte in the second chunk, one in the first, and a signature.
	for _, off := range []int{len(body) - 200, 5000, 30} {
		bad := bytes.Clone(body)
		bad[off] ^= 1
		a, err := exVerifier().Verify(chunkedRequest(bad))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := readAll(t, a); err == nil {
			t.Fatalf("tamper at %d accepted", off)
		}
	}
	// Swap the two chunks' order: the chain breaks.
	bad := bytes.Clone(body)
	bad = bad[:len(bad)-2-len("0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n")]
	a, _ = exVerifier().Verify(chunkedRequest(bad))
	if _, err := readAll(t, a); err == nil {
		t.Fatal("truncated body accepted")
	}
}

func TestSignedTrailerRoundTrip(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 5000)
	for _, tamper := range []string{"", "data", "trailer"} {
		r := httptest.NewRequest("PUT", "http://localhost/bkt/key", nil)
		r.Header.Set("X-Amz-Decoded-Content-Length", "50000")
		r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32c")
		r.Header.Set("Content-Encoding", "aws-chunked")
		seed := Sign(r, exAK, exSecret, "us-east-1", exTime, StreamingPayloadTrailer)
		trailer := "x-amz-checksum-crc32c:" + crc32cOf(payload)
		body := EncodeSignedChunks(payload, 8192, exSecret, "us-east-1", exTime, seed, trailer)
		switch tamper {
		case "data":
			body[100] ^= 1
		case "trailer":
			i := bytes.Index(body, []byte("x-amz-checksum-crc32c:")) + 23
			body[i] ^= 1
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		a, err := exVerifier().Verify(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(t, a)
		if tamper == "" {
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("round trip: %v", err)
			}
			if alg, v := a.Checksum(); alg != "CRC32C" || v != crc32cOf(payload) {
				t.Fatalf("checksum %s %s", alg, v)
			}
		} else if err == nil {
			t.Fatalf("tampered %s accepted", tamper)
		}
	}
}

func TestUnsignedTrailer(t *testing.T) {
	payload := []byte("Hello world")
	body := "b\r\nHello world\r\n0\r\nx-amz-checksum-crc32c:" + crc32cOf(payload) + "\r\n\r\n"
	mk := func(b string) *http.Request {
		r := httptest.NewRequest("PUT", "http://localhost/bkt/key", strings.NewReader(b))
		r.Header.Set("X-Amz-Decoded-Content-Length", "11")
		r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32c")
		r.Header.Set("Content-Encoding", "aws-chunked")
		Sign(r, exAK, exSecret, "us-east-1", exTime, StreamingUnsignedTrailer)
		return r
	}
	a, err := exVerifier().Verify(mk(body))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(t, a); err != nil || string(got) != "Hello world" {
		t.Fatalf("%q %v", got, err)
	}
	a, _ = exVerifier().Verify(mk(strings.Replace(body, "Hello", "Jello", 1)))
	if _, err := readAll(t, a); !errors.Is(err, ErrBadChecksum) {
		t.Fatalf("bad checksum: %v", err)
	}
}

func TestSkewAndKeys(t *testing.T) {
	r := httptest.NewRequest("GET", "http://localhost/bkt", nil)
	Sign(r, exAK, exSecret, "us-east-1", exTime.Add(16*time.Minute), EmptySHA256)
	if _, err := exVerifier().Verify(r); !errors.Is(err, ErrTimeSkewed) {
		t.Fatalf("skew: %v", err)
	}
	r = httptest.NewRequest("GET", "http://localhost/bkt", nil)
	Sign(r, exAK, "wrong", "us-east-1", exTime, EmptySHA256)
	if _, err := exVerifier().Verify(r); !errors.Is(err, ErrSignatureDoesNotMatch) {
		t.Fatalf("wrong secret: %v", err)
	}
	r = httptest.NewRequest("GET", "http://localhost/bkt", nil)
	Sign(r, "OTHER", exSecret, "us-east-1", exTime, EmptySHA256)
	if _, err := exVerifier().Verify(r); !errors.Is(err, ErrInvalidAccessKeyID) {
		t.Fatalf("unknown key: %v", err)
	}
	r = httptest.NewRequest("GET", "http://localhost/bkt", nil)
	Sign(r, exAK, exSecret, "us-east-1", exTime, EmptySHA256)
	r.Header.Set("X-Amz-Meta-Injected", "x")
	if _, err := exVerifier().Verify(r); !errors.Is(err, ErrUnsignedHeaders) {
		t.Fatalf("unsigned header: %v", err)
	}
	r = httptest.NewRequest("GET", "http://localhost/bkt", nil)
	r.Header.Set("Authorization", "AWS AKID:c2ln")
	if _, err := exVerifier().Verify(r); !errors.Is(err, ErrMissingDate) {
		t.Fatalf("sigv2 without a date: %v", err)
	}
	r = httptest.NewRequest("GET", "http://localhost/bkt", nil)
	r.Header.Set("Authorization", "NTLM abc")
	if _, err := exVerifier().Verify(r); !errors.Is(err, ErrUnsupportedAuth) {
		t.Fatalf("unknown scheme: %v", err)
	}
	// The zero Verifier knows no keys: fail closed.
	r = httptest.NewRequest("GET", "http://localhost/bkt", nil)
	Sign(r, exAK, exSecret, "us-east-1", time.Now(), EmptySHA256)
	if _, err := (&Verifier{}).Verify(r); err == nil {
		t.Fatal("zero verifier accepted a signature")
	}
	a, err := (&Verifier{}).Verify(httptest.NewRequest("GET", "http://localhost/bkt", nil))
	if err != nil || !a.Anonymous() {
		t.Fatalf("anonymous: %v", err)
	}
}

func TestCanonicalQuery(t *testing.T) {
	// Sorting happens after encoding: "a-b" < "a%2Fb" is false once encoded.
	got := CanonicalQuery("prefix=a%2Fb&prefix=a-b&uploads&list-type=2&x=a+b", false)
	want := "list-type=2&prefix=a%2Fb&prefix=a-b&uploads=&x=a%20b"
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	if got := CanonicalURI("/bkt/a%20b/c~d/%E2%82%AC/x+y/$"); got != "/bkt/a%20b/c~d/%E2%82%AC/x%2By/%24" {
		t.Fatalf("uri %s", got)
	}
}
