package checksum

import (
	"encoding/base64"
	"encoding/hex"
	"testing"
)

func TestVectors(t *testing.T) {
	// Check values of each CRC over "123456789" (the catalogue of
	// parametrised CRC algorithms), digests big-endian as S3 encodes them.
	in := []byte("123456789")
	for _, tc := range []struct {
		a   Algorithm
		hex string
	}{
		{CRC32, "cbf43926"},
		{CRC32C, "e3069283"},
		{CRC64NVME, "ae8b14860a799888"},
		{SHA1, "f7c3bc1d808e04732adf679965ccc34ca7ae3441"},
		{SHA256, "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"},
	} {
		want, _ := hex.DecodeString(tc.hex)
		if got := tc.a.Sum(in); got != base64.StdEncoding.EncodeToString(want) {
			t.Errorf("%s: got %s want %s", tc.a, got, base64.StdEncoding.EncodeToString(want))
		}
		if !tc.a.Valid(tc.a.Sum(in)) {
			t.Errorf("%s: own value not valid", tc.a)
		}
	}
	// The empty-input CRC64NVME value S3 documents for a zero-byte object.
	if got := CRC64NVME.Sum(nil); got != "AAAAAAAAAAA=" {
		t.Errorf("crc64nvme(empty) = %s", got)
	}
}

func TestHeaders(t *testing.T) {
	for _, a := range All {
		b, ok := FromHeader(a.Header())
		if !ok || b != a {
			t.Errorf("%s: round trip via %s gave %s", a, a.Header(), b)
		}
	}
	if _, ok := FromHeader("x-amz-checksum-md5"); ok {
		t.Error("md5 accepted")
	}
	if _, ok := Parse("crc32c"); !ok {
		t.Error("lower case name rejected")
	}
}

func TestCombine(t *testing.T) {
	data := make([]byte, 3<<20+17)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	for _, a := range All {
		if !a.Combinable() {
			if _, ok := a.Combine(nil, nil, 1); ok {
				t.Errorf("%s: combined", a)
			}
			continue
		}
		for _, cut := range []int{0, 1, 4096, 1 << 20, len(data) - 1, len(data)} {
			h := a.New()
			h.Write(data[:cut])
			x := h.Sum(nil)
			h = a.New()
			h.Write(data[cut:])
			y := h.Sum(nil)
			got, ok := a.Combine(x, y, int64(len(data)-cut))
			if !ok || Encode(got) != a.Sum(data) {
				t.Errorf("%s cut %d: combined %x, want %s", a, cut, got, a.Sum(data))
			}
		}
	}
}
