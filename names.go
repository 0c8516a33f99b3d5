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
