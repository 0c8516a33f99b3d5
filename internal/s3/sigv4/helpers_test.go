package sigv4

import "github.com/shoalfs/shoal/internal/s3/checksum"

func crc32cOf(b []byte) string { return checksum.CRC32C.Sum(b) }
