// Package checksum owns the additional checksums S3 clients attach to
// uploads (x-amz-checksum-crc32, crc32c, crc64nvme, sha1, sha256): their
// header names, their hash functions and their wire encoding (base64 of
// the big-endian digest).
//
// Invariant: a Sum is always the base64 of the full digest of the bytes
// hashed, in the encoding AWS defines, so values computed here compare
// byte for byte with values sent by any SDK.
package checksum

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"strings"
)

// Algorithm names a checksum as S3 spells it in x-amz-checksum-algorithm.
type Algorithm string

// The algorithms S3 supports.
const (
	CRC32     Algorithm = "CRC32"
	CRC32C    Algorithm = "CRC32C"
	CRC64NVME Algorithm = "CRC64NVME"
	SHA1      Algorithm = "SHA1"
	SHA256    Algorithm = "SHA256"
)

// All lists the algorithms in a fixed order (the order headers are probed).
var All = []Algorithm{CRC32, CRC32C, CRC64NVME, SHA1, SHA256}

// crc64NVMEPoly is the NVMe CRC-64 polynomial 0xad93d23594c93659 bit
// reversed: hash/crc64 tables take the reflected form, as the NVMe CRC is
// a reflected CRC (init and final xor all ones, like crc64.ISO/ECMA in Go).
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	nvmeTable  = crc64.MakeTable(crc64NVMEPoly)
)

// Parse maps an algorithm name, in any case, to an Algorithm.
func Parse(s string) (Algorithm, bool) {
	a := Algorithm(strings.ToUpper(strings.TrimSpace(s)))
	for _, x := range All {
		if a == x {
			return a, true
		}
	}
	return "", false
}

// Header is the request/response header carrying the algorithm's value,
// in lower case ("x-amz-checksum-crc32").
func (a Algorithm) Header() string { return "x-amz-checksum-" + strings.ToLower(string(a)) }

// FromHeader maps a header name ("X-Amz-Checksum-Crc32c") to its algorithm.
func FromHeader(name string) (Algorithm, bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	if !strings.HasPrefix(n, "x-amz-checksum-") {
		return "", false
	}
	return Parse(strings.TrimPrefix(n, "x-amz-checksum-"))
}

// New returns a fresh hash for the algorithm; nil for an unknown one.
func (a Algorithm) New() hash.Hash {
	switch a {
	case CRC32:
		return crc32.NewIEEE()
	case CRC32C:
		return crc32.New(castagnoli)
	case CRC64NVME:
		return crc64.New(nvmeTable)
	case SHA1:
		return sha1.New()
	case SHA256:
		return sha256.New()
	}
	return nil
}

// EncodedLen is the length of a valid base64 value for the algorithm.
func (a Algorithm) EncodedLen() int {
	h := a.New()
	if h == nil {
		return 0
	}
	return base64.StdEncoding.EncodedLen(h.Size())
}

// Encode renders a digest as S3 sends it.
func Encode(sum []byte) string { return base64.StdEncoding.EncodeToString(sum) }

// Sum computes the encoded checksum of b.
func (a Algorithm) Sum(b []byte) string {
	h := a.New()
	h.Write(b)
	return Encode(h.Sum(nil))
}

// Valid reports whether v is a well-formed encoded value for the algorithm.
func (a Algorithm) Valid(v string) bool {
	if len(v) != a.EncodedLen() {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(v)
	return err == nil
}

// reflected is the bit-reversed polynomial and width of each CRC
// algorithm, for Combine.
var reflected = map[Algorithm]struct {
	poly  uint64
	width int
}{
	CRC32:     {0xedb88320, 32},
	CRC32C:    {0x82f63b78, 32},
	CRC64NVME: {crc64NVMEPoly, 64},
}

// Combinable reports whether the algorithm is a CRC whose values of
// consecutive pieces combine into the value of the whole (S3's
// FULL_OBJECT checksums of multipart uploads).
func (a Algorithm) Combinable() bool {
	_, ok := reflected[a]
	return ok
}

// Combine returns the CRC of A followed by B from crcA (of A), crcB (of
// B) and B's length, as zlib's crc32_combine does: crcA is advanced over
// lenB zero bytes by squaring the CRC's shift operator in GF(2), then
// crcB is added. Digests are big-endian, as Sum's; ok is false for an
// algorithm that is no CRC or a digest of the wrong size.
func (a Algorithm) Combine(crcA, crcB []byte, lenB int64) (sum []byte, ok bool) {
	r, ok := reflected[a]
	n := r.width / 8
	if !ok || len(crcA) != n || len(crcB) != n {
		return nil, false
	}
	x, y := beUint(crcA), beUint(crcB)
	z := combine(x, y, lenB, r.poly, r.width)
	out := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		out[i] = byte(z)
		z >>= 8
	}
	return out, true
}

func beUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

func gf2Times(mat []uint64, vec uint64) uint64 {
	var sum uint64
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat []uint64) {
	for n := range mat {
		square[n] = gf2Times(mat, mat[n])
	}
}

func combine(crc1, crc2 uint64, len2 int64, poly uint64, width int) uint64 {
	if len2 <= 0 {
		return crc1
	}
	even, odd := make([]uint64, width), make([]uint64, width)
	// odd is the operator for one zero bit; squaring doubles the bits.
	odd[0] = poly
	row := uint64(1)
	for n := 1; n < width; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(even, odd) // two zero bits
	gf2Square(odd, even) // four
	for {
		gf2Square(even, odd) // one zero byte, then 4, 16...
		if len2&1 != 0 {
			crc1 = gf2Times(even, crc1)
		}
		if len2 >>= 1; len2 == 0 {
			break
		}
		gf2Square(odd, even)
		if len2&1 != 0 {
			crc1 = gf2Times(odd, crc1)
		}
		if len2 >>= 1; len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}
