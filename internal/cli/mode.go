package cli

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// Permission bits as POSIX numbers them (07777), which is what users type
// and what stat shows.
const (
	bitSetuid = 04000
	bitSetgid = 02000
	bitSticky = 01000
)

// unixPerm converts the permission part of an io/fs mode to 07777 bits.
func unixPerm(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= bitSetuid
	}
	if m&fs.ModeSetgid != 0 {
		u |= bitSetgid
	}
	if m&fs.ModeSticky != 0 {
		u |= bitSticky
	}
	return u
}

// fileMode converts 07777 bits to an io/fs mode without a type.
func fileMode(u uint32) fs.FileMode {
	m := fs.FileMode(u & 0o777)
	if u&bitSetuid != 0 {
		m |= fs.ModeSetuid
	}
	if u&bitSetgid != 0 {
		m |= fs.ModeSetgid
	}
	if u&bitSticky != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// modeString renders a mode the way ls -l does: "drwxr-sr-t".
func modeString(m fs.FileMode) string {
	b := []byte("----------")
	switch {
	case m.IsDir():
		b[0] = 'd'
	case m&fs.ModeSymlink != 0:
		b[0] = 'l'
	case m&fs.ModeNamedPipe != 0:
		b[0] = 'p'
	case m&fs.ModeSocket != 0:
		b[0] = 's'
	case m&fs.ModeCharDevice != 0:
		b[0] = 'c'
	case m&fs.ModeDevice != 0:
		b[0] = 'b'
	}
	for i, c := range "rwxrwxrwx" {
		if m&(1<<(8-i)) != 0 {
			b[i+1] = byte(c)
		}
	}
	special := func(pos int, set bool, lower, upper byte) {
		if !set {
			return
		}
		if b[pos] == 'x' {
			b[pos] = lower
		} else {
			b[pos] = upper
		}
	}
	special(3, m&fs.ModeSetuid != 0, 's', 'S')
	special(6, m&fs.ModeSetgid != 0, 's', 'S')
	special(9, m&fs.ModeSticky != 0, 't', 'T')
	return string(b)
}

// modeSpec is a parsed chmod mode: an octal number or symbolic clauses.
type modeSpec struct {
	octal   bool
	value   uint32
	clauses []modeClause
}

type modeClause struct {
	who   uint32 // a mask of 0700/0070/0007
	op    byte   // '+', '-' or '='
	perms string // of "rwxXst"
}

// parseMode parses chmod's MODE: octal ("755", "4755") or comma-separated
// symbolic clauses ("u+x,g-w,o=r", "a+rX", "+t"). No "who" means "a".
func parseMode(s string) (*modeSpec, error) {
	bad := fmt.Errorf("invalid mode %q", s)
	if s == "" {
		return nil, bad
	}
	if s[0] >= '0' && s[0] <= '7' {
		v, err := strconv.ParseUint(s, 8, 32)
		if err != nil || v > 0o7777 {
			return nil, bad
		}
		return &modeSpec{octal: true, value: uint32(v)}, nil
	}
	spec := &modeSpec{}
	for _, part := range strings.Split(s, ",") {
		i := 0
		var who uint32
		for ; i < len(part) && strings.IndexByte("ugoa", part[i]) >= 0; i++ {
			who |= map[byte]uint32{'u': 0o700, 'g': 0o070, 'o': 0o007, 'a': 0o777}[part[i]]
		}
		if who == 0 {
			who = 0o777
		}
		if i == len(part) {
			return nil, bad
		}
		for i < len(part) {
			op := part[i]
			if op != '+' && op != '-' && op != '=' {
				return nil, bad
			}
			i++
			j := i
			for ; j < len(part) && strings.IndexByte("rwxXst", part[j]) >= 0; j++ {
			}
			spec.clauses = append(spec.clauses, modeClause{who: who, op: op, perms: part[i:j]})
			i = j
		}
	}
	return spec, nil
}

// apply returns the mode resulting from applying the spec to the 07777
// bits old of a file (isDir decides what X means).
func (s *modeSpec) apply(old uint32, isDir bool) fs.FileMode {
	if s.octal {
		return fileMode(s.value)
	}
	m := old & 0o7777
	for _, c := range s.clauses {
		var bits uint32
		for _, p := range c.perms {
			switch p {
			case 'r':
				bits |= 0o444 & c.who
			case 'w':
				bits |= 0o222 & c.who
			case 'x':
				bits |= 0o111 & c.who
			case 'X':
				if isDir || m&0o111 != 0 {
					bits |= 0o111 & c.who
				}
			case 's':
				if c.who&0o700 != 0 {
					bits |= bitSetuid
				}
				if c.who&0o070 != 0 {
					bits |= bitSetgid
				}
			case 't':
				if c.who&0o007 != 0 {
					bits |= bitSticky
				}
			}
		}
		switch c.op {
		case '+':
			m |= bits
		case '-':
			m &^= bits
		case '=':
			clear := c.who
			if c.who&0o700 != 0 && !isDir { // like chmod, = keeps a directory's setuid/setgid
				clear |= bitSetuid
			}
			if c.who&0o070 != 0 && !isDir {
				clear |= bitSetgid
			}
			if c.who&0o007 != 0 {
				clear |= bitSticky
			}
			m = m&^clear | bits
		}
	}
	return fileMode(m)
}
