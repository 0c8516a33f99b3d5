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

// layer ranks packages: a package may import only packages of a lower or
// equal-but-different rank below it. Unlisted internal packages are leaves'
// peers at rank 0 unless a prefix matches.
var layers = []struct {
	prefix string
	rank   int
}{
	{"cmd/", 5},
	{"internal/cli", 4},
	{"internal/bench", 4},
	{".", 3}, // the public SDK
	{"internal/blockserver", 2},
	{"internal/data", 2},
	{"internal/meta", 2},
	{"internal/kv", 1},
	{"internal/objstore", 1},
}

func rank(dir string) int {
	for _, l := range layers {
		if dir == l.prefix || strings.HasPrefix(dir, strings.TrimSuffix(l.prefix, "/")+"/") || (l.prefix != "." && strings.HasPrefix(dir, l.prefix)) {
			return l.rank
		}
	}
	return 0
}

func TestImportsPointDown(t *testing.T) {
	for _, p := range loadPackages(t) {
		r := rank(p.dir)
		for im := range p.imports {
			if ri := rank(im); ri > r {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must point down the layers", p.dir, r, im, ri)
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
