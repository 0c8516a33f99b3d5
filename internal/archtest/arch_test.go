package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/shoalfs/shoal"

// pkg is what the rules need to know of one package directory.
type pkg struct {
	dir     string // relative to the module root, "." for the root
	hasDoc  bool
	imports map[string]bool // module-internal imports, relative dirs
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s", dir)
	}
	return dir
}

func loadPackages(t *testing.T) map[string]*pkg {
	root := moduleRoot(t)
	pkgs := map[string]*pkg{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "python" || name == "bin" || name == "data") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		p := pkgs[rel]
		if p == nil {
			p = &pkg{dir: rel, imports: map[string]bool{}}
			pkgs[rel] = p
		}
		isTest := strings.HasSuffix(path, "_test.go")
		if !isTest && f.Doc != nil && strings.HasPrefix(strings.TrimSpace(f.Doc.Text()), "Package "+f.Name.Name) {
			p.hasDoc = true
		}
		if f.Name.Name == "main" && !isTest && f.Doc != nil {
			p.hasDoc = true
		}
		if isTest {
			return nil
		}
		for _, im := range f.Imports {
			ip, _ := strconv.Unquote(im.Path.Value)
			if ip == module {
				p.imports["."] = true
			} else if strings.HasPrefix(ip, module+"/") {
				p.imports[strings.TrimPrefix(ip, module+"/")] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

func TestEveryPackageHasDoc(t *testing.T) {
	for _, p := range loadPackages(t) {
		if !p.hasDoc {
			t.Errorf("package %s has no doc comment (\"// Package x ...\")", p.dir)
		}
	}
}

func TestNoGrabBagPackages(t *testing.T) {
	for _, p := range loadPackages(t) {
		switch filepath.Base(p.dir) {
		case "util", "utils", "common", "misc", "helpers":
			t.Errorf("package %s: name it for what it does (STYLE.md)", p.dir)
		}
	}
}

// layers ranks packages, top to bottom: a package may import only
// packages of a strictly lower rank, or its own subpackages' peers of the
// same prefix. Every package must be listed (a new one is a decision about
// where it sits). Rank 0 holds the leaves that import nothing of ours.
var layers = []struct {
	prefix string
	rank   int
}{
	{"cmd/", 70},
	{"internal/cli", 60},
	{"internal/crashtest", 60},
	{"internal/multitest", 60},
	{"internal/archtest", 60},
	{"internal/bench", 55},
	{"internal/server", 50},
	{"internal/agent", 50},
	{"internal/s3", 50},
	{"internal/fusefs", 50},
	{".", 40}, // the public SDK
	{"internal/rpc", 35},
	{"internal/data", 32},
	{"internal/meta", 30},
	{"internal/blockserver", 30},
	{"internal/kvtable", 30},
	{"internal/datadir", 30},
	{"internal/objstore", 20},
	{"internal/kv", 15},
	{"internal/lockfile", 5},
	{"internal/fserr", 0},
	{"internal/progress", 0},
	{"api/", 0},
}

// rank returns the layer of dir and the prefix that placed it, or -1.
func rank(dir string) (int, string) {
	for _, l := range layers {
		p := strings.TrimSuffix(l.prefix, "/")
		if dir == p || (p != "." && strings.HasPrefix(dir, p+"/")) {
			return l.rank, p
		}
	}
	return -1, ""
}

func TestImportsPointDown(t *testing.T) {
	for _, p := range loadPackages(t) {
		r, group := rank(p.dir)
		if r < 0 {
			t.Errorf("package %s is not placed in a layer: add it to layers in arch_test.go", p.dir)
			continue
		}
		for im := range p.imports {
			ri, igroup := rank(im)
			if igroup == group {
				continue // one component's own subpackages
			}
			if ri >= r {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must point down the layers", p.dir, r, im, ri)
			}
		}
	}
	// The FUSE mount is a thin adapter over the public SDK: no second
	// implementation of any semantic, so nothing of ours but the SDK.
	for _, p := range loadPackages(t) {
		if strings.HasPrefix(p.dir, "internal/fusefs") {
			for im := range p.imports {
				if im != "." {
					t.Errorf("%s imports %s: the mount may import only the SDK (package shoal)", p.dir, im)
				}
			}
		}
	}
	// The data path must not reach into the namespace's internals beyond its API, and the
	// namespace must never depend on the data path.
	for _, p := range loadPackages(t) {
		if strings.HasPrefix(p.dir, "internal/meta") {
			for im := range p.imports {
				if strings.HasPrefix(im, "internal/data") {
					t.Errorf("%s imports %s: meta must not depend on the data path", p.dir, im)
				}
			}
		}
	}
}
