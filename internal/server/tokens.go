package server

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/rpc"
)

// TokenFileFormat describes the tokens file for messages and help.
const TokenFileFormat = "one token per line: TOKEN UID GID[,GID...] [super]  (# starts a comment; the first GID is the primary group, the rest supplementary; super lets the holder act as any user, like as_super)"

// LoadTokens reads a tokens file (see TokenFileFormat).
func LoadTokens(path string) (map[string]rpc.Token, error) {
	const op = "server.LoadTokens"
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fserr.E(op, path, err)
	}
	toks, err := ParseTokens(bytes.NewReader(b))
	if err != nil {
		return nil, fserr.E(op, path, err)
	}
	return toks, nil
}

// ParseTokens parses the tokens file format: each non-blank line outside
// comments is "TOKEN UID GID[,GID...] [super]".
func ParseTokens(r io.Reader) (map[string]rpc.Token, error) {
	const op = "server.ParseTokens"
	toks := map[string]rpc.Token{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func(format string, args ...any) error {
			return fserr.Errorf(op, fserr.Invalid, "server: tokens line %d: "+format+" (want %s)",
				append(append([]any{n}, args...), TokenFileFormat)...)
		}
		if len(f) < 3 || len(f) > 4 {
			return nil, bad("%d fields", len(f))
		}
		if len(f[0]) < 8 {
			return nil, bad("token shorter than 8 characters")
		}
		if _, dup := toks[f[0]]; dup {
			return nil, bad("token listed twice")
		}
		uid, err := strconv.ParseUint(f[1], 10, 32)
		if err != nil {
			return nil, bad("bad uid %q", f[1])
		}
		var t rpc.Token
		t.Uid = uint32(uid)
		for i, g := range strings.Split(f[2], ",") {
			gid, err := strconv.ParseUint(g, 10, 32)
			if err != nil {
				return nil, bad("bad gid %q", g)
			}
			if i == 0 {
				t.Gid = uint32(gid)
			} else {
				t.Gids = append(t.Gids, uint32(gid))
			}
		}
		if len(f) == 4 {
			if f[3] != "super" {
				return nil, bad("unknown right %q", f[3])
			}
			t.Super = true
		}
		toks[f[0]] = t
	}
	if err := sc.Err(); err != nil {
		return nil, fserr.E(op, fserr.IO, err)
	}
	return toks, nil
}
