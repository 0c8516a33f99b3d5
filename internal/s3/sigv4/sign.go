package sigv4

import (
	"crypto/sha256"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Sign signs r in place with header authentication, the way an SDK does,
// and returns the signature (the seed of a streaming body). It signs Host,
// Content-Type, Content-MD5 and every X-Amz-* header. Gateways do not
// need this; tests, benchmarks and tools that speak to one do.
func Sign(r *http.Request, accessKey, secret, region string, t time.Time, payloadHash string) string {
	t = t.UTC()
	amzDate := t.Format(timeFormat)
	r.Header.Set("X-Amz-Date", amzDate)
	r.Header.Set("X-Amz-Content-Sha256", payloadHash)
	if r.Host == "" {
		r.Host = r.URL.Host
	}
	signed := []string{"host"}
	for k := range r.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-amz-") || lk == "content-type" || lk == "content-md5" || lk == "content-encoding" {
			signed = append(signed, lk)
		}
	}
	if r.ContentLength > 0 {
		r.Header.Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
		signed = append(signed, "content-length")
	}
	sort.Strings(signed)
	cred := credential{accessKey: accessKey, date: t.Format(dateFormat), region: region, service: "s3"}
	key := SigningKey(secret, cred.date, region, "s3")
	creq := CanonicalRequest(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, canonicalHeaderValues(r, signed), signed, payloadHash, false)
	sig := Signature(key, StringToSign(amzDate, cred.scope(), creq))
	r.Header.Set("Authorization", algorithm+" Credential="+accessKey+"/"+cred.scope()+", SignedHeaders="+strings.Join(signed, ";")+", Signature="+sig)
	return sig
}

// EncodeSignedChunks encodes payload as a signed aws-chunked body whose
// chunk signatures chain from seedSig. With trailer non-empty ("name:value"),
// the body ends with that trailer and its signature
// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER).
func EncodeSignedChunks(payload []byte, chunkSize int, secret, region string, t time.Time, seedSig, trailer string) []byte {
	t = t.UTC()
	amzDate := t.Format(timeFormat)
	scope := credential{date: t.Format(dateFormat), region: region, service: "s3"}.scope()
	key := SigningKey(secret, t.Format(dateFormat), region, "s3")
	var b strings.Builder
	prev := seedSig
	emit := func(data []byte) {
		h := sha256.Sum256(data)
		sig := Signature(key, ChunkStringToSign(amzDate, scope, prev, h[:]))
		prev = sig
		b.WriteString(strconv.FormatInt(int64(len(data)), 16) + ";chunk-signature=" + sig + "\r\n")
		b.Write(data)
		if len(data) > 0 || trailer == "" {
			b.WriteString("\r\n")
		}
	}
	for len(payload) > 0 {
		n := min(chunkSize, len(payload))
		emit(payload[:n])
		payload = payload[n:]
	}
	emit(nil)
	if trailer != "" {
		canon := trailer + "\n"
		sig := Signature(key, TrailerStringToSign(amzDate, scope, prev, canon))
		b.WriteString(trailer + "\r\nx-amz-trailer-signature:" + sig + "\r\n\r\n")
	}
	return []byte(b.String())
}
