package sigv4

import (
	"bytes"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func FuzzCanonicalRequest(f *testing.F) {
	f.Add("/bkt/a%20b/c", "prefix=a%2Fb&uploads&x=a+b", "host;x-amz-date")
	f.Add("/", "X-Amz-Signature=abc&list-type=2", "host")
	f.Add("/%zz/%E2%82%AC", "a=%zz&=&&b", "content-type;host")
	f.Fuzz(func(t *testing.T, path, query, signed string) {
		q := CanonicalQuery(query, false)
		if again := CanonicalQuery(q, false); again != q {
			t.Fatalf("canonical query not a fixed point: %q -> %q", q, again)
		}
		u := CanonicalURI(path)
		if strings.HasPrefix(path, "/") && !strings.Contains(path, "%") && CanonicalURI(u) != u {
			t.Fatalf("canonical uri not a fixed point: %q -> %q", u, CanonicalURI(u))
		}
		hs := strings.Split(signed, ";")
		CanonicalRequest("GET", path, query, make([]string, len(hs)), hs, EmptySHA256, true)
		// The verifier must reject, never panic, on arbitrary input.
		r := httptest.NewRequest("GET", "http://h/", nil)
		r.URL.RawPath, r.URL.RawQuery = "", query
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request,SignedHeaders="+signed+",Signature="+strings.Repeat("a", 64))
		r.Header.Set("X-Amz-Date", "20130524T000000Z")
		r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
		if _, err := exVerifier().Verify(r); err == nil {
			t.Fatal("forged signature accepted")
		}
	})
}

func FuzzChunkedDecoder(f *testing.F) {
	f.Add(awsChunkedBody()[:200], true, false)
	f.Add([]byte("b\r\nHello world\r\n0\r\nx-amz-checksum-crc32c:crUfeA==\r\n\r\n"), false, true)
	f.Add([]byte("5;chunk-signature="+strings.Repeat("0", 64)+"\r\nhello\r\n0;chunk-signature="+strings.Repeat("0", 64)+"\r\n\r\n"), true, false)
	f.Add([]byte("ffffffffffffffff\r\n"), false, false)
	f.Fuzz(func(t *testing.T, body []byte, signed, trailer bool) {
		st := chunkState{signed: signed, trailer: trailer, key: SigningKey(exSecret, "20130524", "us-east-1", "s3"),
			amzDate: exTime.Format(timeFormat), scope: "20130524/us-east-1/s3/aws4_request", prevSig: strings.Repeat("0", 64)}
		const want = 11
		c := newChunkedBody(bytes.NewReader(body), st, want, "", nil)
		out, err := io.ReadAll(io.LimitReader(c, 1<<20))
		if err == nil && len(out) != want {
			t.Fatalf("decoded %d bytes without error, want %d", len(out), want)
		}
		if err == nil && signed {
			t.Fatal("chunks signed with a made-up seed verified")
		}
	})
}
