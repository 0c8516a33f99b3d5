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
	imports map[string]bool // module-internal imports of its non-test files, relative dirs
	// testImports are those of its _test.go files (in-package and
	// external tests alike).
	testImports map[string]bool
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
			p = &pkg{dir: rel, imports: map[string]bool{}, testImports: map[string]bool{}}
			pkgs[rel] = p
		}
		isTest := strings.HasSuffix(path, "_test.go")
		if !isTest && f.Doc != nil && strings.HasPrefix(strings.TrimSpace(f.Doc.Text()), "Package "+f.Name.Name) {
			p.hasDoc = true
		}
		if f.Name.Name == "main" && !isTest && f.Doc != nil {
			p.hasDoc = true
		}
		into := p.imports
		if isTest {
			into = p.testImports
		}
		for _, im := range f.Imports {
			ip, _ := strconv.Unquote(im.Path.Value)
			if ip == module {
				into["."] = true
			} else if strings.HasPrefix(ip, module+"/") {
				into[strings.TrimPrefix(ip, module+"/")] = true
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
	{"internal/console", 45},
	{"internal/fusefs", 50},
	{".", 40}, // the public SDK
	// load jobs' executor: below the SDK, which runs jobs in-process over OpenLocal
	{"internal/load", 38},
	{"internal/inproc", 36},
	{"internal/rpc", 35},
	{"internal/metrics", 33}, // above data, kv and objstore: it wraps stores, reads engines and caches
	{"internal/data", 32},
	{"internal/ufs", 32}, // dataset mounts' stores and page placement: above meta (its records), beside data
	{"internal/storage", 31},
	{"internal/meta", 30},
	{"internal/blockserver", 30},
	{"internal/kvtable", 30},
	{"internal/datadir", 30},
	{"internal/health", 25},
	{"internal/pagecache", 22}, // the worker's page cache of mounted datasets: above objstore, below meta
	{"internal/objstore", 20},
	{"internal/kv", 15},
	{"internal/lockfile", 5},
	{"internal/blockfmt", 3},
	{"internal/testserver", 5},
	{"internal/fserr", 0},
	{"internal/progress", 0},
	{"internal/ring", 0}, // placement: the Python SDK is its twin, so it must stay pure
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
	pkgs := loadPackages(t)
	for _, p := range pkgs {
		r, group := rank(p.dir)
		if r < 0 {
			t.Errorf("package %s is not placed in a layer: add it to layers in arch_test.go", p.dir)
			continue
		}
		check := func(imports map[string]bool, what string, allowed func(im string) bool) {
			for im := range imports {
				ri, igroup := rank(im)
				if igroup == group || allowed(im) {
					continue // one component's own subpackages, or a declared exception
				}
				if ri >= r {
					t.Errorf("%s (layer %d) %s %s (layer %d): imports must point down the layers", p.dir, r, what, im, ri)
				}
			}
		}
		check(p.imports, "imports", func(string) bool { return false })
		// Tests are held to the same layers: a test reaching up would
		// make a lower package's suite depend on what is built on it,
		// unless testsUp declares why.
		check(p.testImports, "tests import", func(im string) bool { return testsUp[[2]string{p.dir, im}] != "" })
	}
}

// testsUp are the test files allowed to import a package that is not
// below theirs, each for a stated reason: integration suites that run
// the real parts built on the package under test. Any other upward
// import in a test fails TestImportsPointDown.
var testsUp = map[[2]string]string{
	{".", "internal/server"}:                                 "the SDK's suite runs against a real `shoal server` too (Dial)",
	{"internal/server", "internal/s3"}:                       "the S3 role is tested with the gateway internal/cli gives it",
	{"internal/server", "internal/s3/shoalfs"}:               "the S3 role is tested with the gateway internal/cli gives it",
	{"internal/console", "internal/server"}:                  "the console is tested as `shoal server` serves it, over the server's own API",
	{"internal/fusefs", "internal/server"}:                   "the mount's suites run over a remote client too, against a real `shoal server`",
	{"internal/objstore/remote", "internal/blockserver"}:     "the remote store is tested against the real block server",
	{"internal/objstore/tiered/smallfiles", "internal/data"}: "its benchmark writes small files through the data layer",
	{"internal/objstore/tiered/smallfiles", "internal/meta"}: "its benchmark writes small files through the data layer",
}

// closure returns every module package dir imports, directly or not,
// through non-test files.
func closure(pkgs map[string]*pkg, dir string) map[string]bool {
	seen := map[string]bool{}
	var walk func(d string)
	walk = func(d string) {
		p := pkgs[d]
		if p == nil {
			return
		}
		for im := range p.imports {
			if !seen[im] {
				seen[im] = true
				walk(im)
			}
		}
	}
	walk(dir)
	return seen
}

// forbidden are dependencies the layers alone would allow but the design
// does not, checked on every package's transitive imports (so going
// through a third package does not slip past): from packages under
// from, nothing under to.
var forbidden = []struct{ from, to, why string }{
	// The namespace must never depend on the data path.
	{"internal/meta", "internal/data", "meta must not depend on the data path"},
	// The wire carries the data path's requests; the block format it
	// needs is blockfmt's, not the data layer's.
	{"internal/rpc", "internal/data", "the wire layer must not depend on the data layer (the block format is internal/blockfmt)"},
	// The block format is a leaf: every layer may use it.
	{"internal/blockfmt", "internal/meta", "the block format must stay a leaf"},
	{"internal/blockfmt", "internal/kv", "the block format must stay a leaf"},
	{"internal/blockfmt", "internal/objstore", "the block format must stay a leaf"},
}

func under(dir, prefix string) bool { return dir == prefix || strings.HasPrefix(dir, prefix+"/") }

func TestForbiddenDependencies(t *testing.T) {
	pkgs := loadPackages(t)
	for dir := range pkgs {
		deps := closure(pkgs, dir)
		for _, f := range forbidden {
			if !under(dir, f.from) {
				continue
			}
			for d := range deps {
				if under(d, f.to) {
					t.Errorf("%s depends on %s (directly or through another package): %s", dir, d, f.why)
				}
			}
		}
	}
}

// TestLeavesImportOnlyLeaves: a rank-0 package imports nothing of ours,
// and the block format imports only fserr, transitively.
func TestLeavesImportOnlyLeaves(t *testing.T) {
	pkgs := loadPackages(t)
	for dir := range pkgs {
		r, _ := rank(dir)
		deps := closure(pkgs, dir)
		switch {
		case r == 0 && len(deps) > 0:
			t.Errorf("%s is a leaf (layer 0) but imports %v", dir, keys(deps))
		case under(dir, "internal/blockfmt"):
			for d := range deps {
				if d != "internal/fserr" {
					t.Errorf("%s imports %s: the block format imports only internal/fserr", dir, d)
				}
			}
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestMountUsesOnlySDK: the FUSE mount is a thin adapter over the public
// SDK, with no second implementation of any semantic, so it imports
// nothing of ours but package shoal.
func TestMountUsesOnlySDK(t *testing.T) {
	for dir, p := range loadPackages(t) {
		if !under(dir, "internal/fusefs") {
			continue
		}
		for im := range p.imports {
			if im != "." {
				t.Errorf("%s imports %s: the mount may import only the SDK (package shoal)", dir, im)
			}
		}
	}
}
