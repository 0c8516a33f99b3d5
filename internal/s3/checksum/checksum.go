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
