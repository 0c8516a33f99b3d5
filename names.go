package shoal

import (
	"io/fs"
	"strings"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// cleanName is the one name rule of every method except the io/fs ones:
// strip one leading "/", then require fs.ValidPath (and no NUL, which
// ValidPath allows but no POSIX name can hold).
func cleanName(op, name string) (string, error) {
	n := name
	if n == "/" {
		n = "."
	} else {
		n = strings.TrimPrefix(n, "/")
	}
	return validName(op, name, n)
}

// strictName is the io/fs rule: fs.ValidPath exactly, so Open("/x") fails
// as testing/fstest demands.
func strictName(op, name string) (string, error) {
	return validName(op, name, name)
}

func validName(op, orig, n string) (string, error) {
	if !fs.ValidPath(n) || strings.IndexByte(n, 0) >= 0 {
		return "", fserr.E(op, orig, fserr.Invalid)
	}
	if len(n) > meta.MaxPath {
		return "", fserr.E(op, orig, fserr.NameTooLong)
	}
	return n, nil
}

// metaPath is the absolute form meta.Resolve walks.
func metaPath(n string) string {
	if n == "." {
		return "/"
	}
	return "/" + n
}

// splitName splits a cleaned name into its parent directory and last
// element; the root has no last element (base is "").
func splitName(n string) (dir, base string) {
	if n == "." {
		return ".", ""
	}
	i := strings.LastIndexByte(n, '/')
	if i < 0 {
		return ".", n
	}
	return n[:i], n[i+1:]
}

// baseName is the name FileInfo reports.
func baseName(n string) string {
	_, b := splitName(n)
	if b == "" {
		return "."
	}
	return b
}

// joinName joins a cleaned directory name and an entry name.
func joinName(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

// ReservedPrefix begins the names of the root directory Shoal keeps for
// its own services (the S3 gateway's staging area, /.shoal-s3). Entries
// named so are left out of every listing of the root, and a path through
// one is refused: as absent to lookups, not permitted to changes. Only
// the view WithInternalNames returns sees and changes them.
const ReservedPrefix = ".shoal-"

// reserved reports whether the clean name n lies in a reserved root entry.
func reserved(n string) bool {
	first, _, _ := strings.Cut(n, "/")
	return strings.HasPrefix(first, ReservedPrefix)
}

// lookupOps are the operations that only look: a reserved name is absent
// to them, while every other operation is refused EPERM on it.
var lookupOps = map[string]bool{
	"stat": true, "lstat": true, "open": true, "opendir": true, "readdir": true, "readfile": true,
	"readlink": true, "getxattr": true, "listxattr": true, "listnames": true, "walk": true, "getflags": true,
}

// cleanName is the package cleanName that also refuses reserved names
// unless c is an internal view.
func (c *Client) cleanName(op, name string) (string, error) {
	n, err := cleanName(op, name)
	if err != nil {
		return "", err
	}
	return n, c.hide(op, name, n, !lookupOps[op])
}

// strictName is the package strictName that also refuses reserved names.
func (c *Client) strictName(op, name string) (string, error) {
	n, err := strictName(op, name)
	if err != nil {
		return "", err
	}
	return n, c.hide(op, name, n, !lookupOps[op])
}

// hide refuses the user-given name (clean form n) when it lies in a
// reserved root entry and c may not see those: NotExist for a lookup,
// NotPermitted for a change.
func (c *Client) hide(op, name, n string, change bool) error {
	if c.internal || !reserved(n) {
		return nil
	}
	if change {
		return fserr.Errorf(op, fserr.NotPermitted, "%s: names beginning with %q in the root are reserved for Shoal", name, ReservedPrefix)
	}
	return fserr.E(op, name, fserr.NotExist)
}

// hidden reports whether the entry name of directory ino is left out of
// c's listings (a reserved root entry, for a view that may not see them).
func (c *Client) hidden(ino meta.Ino, name string) bool {
	return !c.internal && ino == meta.RootIno && strings.HasPrefix(name, ReservedPrefix)
}
