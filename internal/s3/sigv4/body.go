package sigv4

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/shoalfs/shoal/internal/s3/checksum"
)

// sumState is the x-amz-checksum-* check of one request body.
type sumState struct {
	alg      checksum.Algorithm
	h        hash.Hash
	expected string // from a header; for a trailer, filled in at the end
	value    string // computed, set when done
	done     bool
}

// headerChecksum finds the x-amz-checksum-* header, if any. More than one
// is an error: S3 accepts one checksum per request.
func headerChecksum(h http.Header, o options) (*sumState, error) {
	var st *sumState
	if o.ignoreChecksumHeaders {
		return nil, nil
	}
	for _, a := range checksum.All {
		v := h.Get(a.Header())
		if v == "" {
			continue
		}
		if st != nil {
			return nil, inputErr(ErrMultipleChecksums)
		}
		if !a.Valid(v) {
			return nil, inputErr(ErrInvalidChecksum)
		}
		st = &sumState{alg: a, h: a.New(), expected: v}
	}
	return st, nil
}

func (s *sumState) finish() error {
	if s == nil {
		return nil
	}
	s.value = checksum.Encode(s.h.Sum(nil))
	if !sigEqual(s.value, s.expected) {
		return corruptErr(ErrBadChecksum)
	}
	s.done = true
	return nil
}

// plainBody checks a non-chunked payload: length, optional SHA-256, optional checksum.
type plainBody struct {
	r        io.Reader
	want     int64 // -1: unknown
	n        int64
	sha      hash.Hash
	shaWant  string
	sum      *sumState
	err      error
	finished bool
}

func wrapPlain(r *http.Request, a *Auth, sha256Hex string, o options) (io.Reader, error) {
	st, err := headerChecksum(r.Header, o)
	if err != nil {
		return nil, err
	}
	a.sum = st
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	pb := &plainBody{r: body, want: r.ContentLength, sum: st, shaWant: sha256Hex}
	if sha256Hex != "" {
		pb.sha = sha256.New()
	}
	return pb, nil
}

func (b *plainBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	if n > 0 {
		b.n += int64(n)
		if b.sha != nil {
			b.sha.Write(p[:n])
		}
		if b.sum != nil {
			b.sum.h.Write(p[:n])
		}
		if b.want >= 0 && b.n > b.want {
			b.err = bodyErr(ErrIncompleteBody)
			return 0, b.err
		}
	}
	if err == io.EOF {
		b.err = b.finish()
		return n, b.err
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

func (b *plainBody) finish() error {
	if b.want >= 0 && b.n != b.want {
		return bodyErr(ErrIncompleteBody)
	}
	if b.sha != nil && !sigEqual(hex.EncodeToString(b.sha.Sum(nil)), b.shaWant) {
		return corruptErr(ErrContentSHA256Mismatch)
	}
	if err := b.sum.finish(); err != nil {
		return err
	}
	return io.EOF
}

// chunkState is what chunk verification chains on.
type chunkState struct {
	signed, trailer bool
	key             []byte
	amzDate, scope  string
	prevSig         string
}

// maxChunkLine bounds a chunk header or trailer line.
const maxChunkLine = 4096

// chunkedBody decodes aws-chunked: "<hex size>[;chunk-signature=<sig>]\r\n
// <data>\r\n" repeated, a zero-size final chunk, then (trailer variants)
// "name:value" lines and, when signed, "x-amz-trailer-signature:<sig>".
type chunkedBody struct {
	br          *bufio.Reader
	st          chunkState
	remaining   int64 // data bytes left in the current chunk
	inChunk     bool
	chunkSig    string
	chunkHash   hash.Hash
	decoded     int64
	want        int64
	trailerName string // lower case, from x-amz-trailer
	sum         *sumState
	err         error
}

func newChunkedBody(r io.Reader, st chunkState, decodedLen int64, trailerName string, sum *sumState) *chunkedBody {
	return &chunkedBody{
		br:          bufio.NewReaderSize(r, 64<<10),
		st:          st,
		want:        decodedLen,
		trailerName: trailerName,
		sum:         sum,
		chunkHash:   sha256.New(),
	}
}

func wrapChunked(r *http.Request, a *Auth, o options, st chunkState) (io.Reader, error) {
	dl := r.Header.Get("X-Amz-Decoded-Content-Length")
	if dl == "" {
		return nil, inputErr(ErrMissingDecodedLength)
	}
	want, err := strconv.ParseInt(dl, 10, 64)
	if err != nil || want < 0 {
		return nil, inputErr(ErrMissingDecodedLength)
	}
	sum, err := headerChecksum(r.Header, o)
	if err != nil {
		return nil, err
	}
	var trailerName string
	if st.trailer {
		trailerName = strings.ToLower(strings.TrimSpace(r.Header.Get("X-Amz-Trailer")))
		if trailerName != "" {
			alg, ok := checksum.FromHeader(trailerName)
			if !ok || sum != nil {
				return nil, inputErr(ErrInvalidChecksum)
			}
			sum = &sumState{alg: alg, h: alg.New()}
		}
	}
	a.sum = sum
	a.Length = want
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	return newChunkedBody(body, st, want, trailerName, sum), nil
}

func (c *chunkedBody) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for c.remaining == 0 {
		if err := c.nextChunk(); err != nil {
			c.err = err
			return 0, err
		}
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.br.Read(p)
	if n > 0 {
		c.remaining -= int64(n)
		c.decoded += int64(n)
		if c.st.signed {
			c.chunkHash.Write(p[:n])
		}
		if c.sum != nil {
			c.sum.h.Write(p[:n])
		}
		if c.decoded > c.want {
			c.err = bodyErr(ErrIncompleteBody)
			return 0, c.err
		}
	}
	if err == io.EOF || (err == nil && n == 0) {
		c.err = bodyErr(ErrIncompleteBody)
		return n, c.err
	}
	if err != nil {
		c.err = err
	}
	return n, err
}

func (c *chunkedBody) readLine() (string, error) {
	line, err := c.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull || len(line) > maxChunkLine {
		return "", bodyErr(ErrMalformedChunk)
	}
	if err == io.EOF {
		if len(line) == 0 {
			return "", io.EOF
		}
		return "", bodyErr(ErrIncompleteBody)
	}
	if err != nil {
		return "", err
	}
	s := strings.TrimSuffix(string(line[:len(line)-1]), "\r")
	return s, nil
}

// endChunk checks the CRLF after a chunk's data and its signature.
func (c *chunkedBody) endChunk() error {
	if !c.inChunk {
		return nil
	}
	c.inChunk = false
	crlf := make([]byte, 2)
	if _, err := io.ReadFull(c.br, crlf); err != nil || !bytes.Equal(crlf, []byte("\r\n")) {
		return bodyErr(ErrMalformedChunk)
	}
	return c.verifyChunk()
}

func (c *chunkedBody) verifyChunk() error {
	if !c.st.signed {
		return nil
	}
	sts := ChunkStringToSign(c.st.amzDate, c.st.scope, c.st.prevSig, c.chunkHash.Sum(nil))
	if !sigEqual(Signature(c.st.key, sts), c.chunkSig) {
		return fserrChunk()
	}
	c.st.prevSig = c.chunkSig
	c.chunkHash.Reset()
	return nil
}

func fserrChunk() error { return authErrBody(ErrChunkSignature) }

func (c *chunkedBody) nextChunk() error {
	if err := c.endChunk(); err != nil {
		return err
	}
	line, err := c.readLine()
	if err == io.EOF {
		return bodyErr(ErrIncompleteBody)
	}
	if err != nil {
		return err
	}
	sizeStr, ext, hasExt := strings.Cut(line, ";")
	size, perr := strconv.ParseInt(sizeStr, 16, 64)
	if perr != nil || size < 0 || sizeStr == "" || len(sizeStr) > 16 {
		return bodyErr(ErrMalformedChunk)
	}
	if c.st.signed {
		sig, ok := strings.CutPrefix(ext, "chunk-signature=")
		if !hasExt || !ok || !isHex64(sig) {
			return bodyErr(ErrMalformedChunk)
		}
		c.chunkSig = sig
	}
	if size > 0 {
		c.remaining = size
		c.inChunk = true
		return nil
	}
	// The final, empty chunk.
	if err := c.verifyChunk(); err != nil {
		return err
	}
	if c.st.trailer {
		if err := c.readTrailers(); err != nil {
			return err
		}
	} else if l, err := c.readLine(); err != nil || l != "" {
		return bodyErr(ErrMalformedChunk)
	}
	if c.decoded != c.want {
		return bodyErr(ErrIncompleteBody)
	}
	if c.sum != nil {
		if err := c.sum.finish(); err != nil {
			return err
		}
	}
	return io.EOF
}

// readTrailers reads "name:value" lines up to the end of the body (or,
// signed, the trailer signature), tolerating the blank line some SDKs put
// between the trailers and their signature.
func (c *chunkedBody) readTrailers() error {
	var canon strings.Builder
	gotSig := ""
	lines := 0
	for {
		line, err := c.readLine()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if lines++; lines > 16 {
			return bodyErr(ErrMalformedChunk)
		}
		if line == "" {
			if !c.st.signed || gotSig != "" {
				break
			}
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return bodyErr(ErrMalformedChunk)
		}
		lname := strings.ToLower(strings.TrimSpace(name))
		if lname == "x-amz-trailer-signature" {
			if !c.st.signed || gotSig != "" {
				return bodyErr(ErrMalformedChunk)
			}
			gotSig = strings.TrimSpace(value)
			continue
		}
		if gotSig != "" {
			return bodyErr(ErrMalformedChunk) // nothing may follow the signature
		}
		canon.WriteString(line)
		canon.WriteByte('\n')
		if lname == c.trailerName && c.sum != nil {
			v := strings.TrimSpace(value)
			if !c.sum.alg.Valid(v) {
				return bodyErr(ErrInvalidChecksum)
			}
			c.sum.expected = v
		}
	}
	if c.st.signed {
		if gotSig == "" {
			return bodyErr(ErrMalformedChunk)
		}
		sts := TrailerStringToSign(c.st.amzDate, c.st.scope, c.st.prevSig, canon.String())
		if !sigEqual(Signature(c.st.key, sts), gotSig) {
			return authErrBody(ErrChunkSignature)
		}
	}
	if c.sum != nil && c.sum.expected == "" {
		return bodyErr(ErrInvalidChecksum) // declared in x-amz-trailer, never sent
	}
	return nil
}
