package fusefs

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// needTool skips the test, saying why, when a program is not installed
// (make tools installs it).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (make tools installs it): %v", name, err)
	}
	return p
}

// sh runs a command and fails the test with its output if it fails. It
// never starts a command with its working directory on the mount: the
// child of a fork would chdir there before exec, asking this very
// process (which serves the mount) while it waits for the exec, and
// both hang. Commands take the directory as an argument instead (git -C).
func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// makeTree writes n files of random sizes (most small, some over a
// block) in nested directories under dir, with symlinks, a hard link,
// modes and times for rsync -a to carry.
func makeTree(t *testing.T, dir string, n int, rng *rand.Rand) {
	t.Helper()
	for i := 0; i < n; i++ {
		d := filepath.Join(dir, fmt.Sprintf("d%02d", i%23), fmt.Sprintf("e%d", i%7))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		size := rng.IntN(8 << 10)
		if i%97 == 0 {
			size = 1<<20 + rng.IntN(5<<20)
		}
		b := make([]byte, size)
		for k := range b {
			b[k] = byte(rng.Uint32())
		}
		p := filepath.Join(d, fmt.Sprintf("f%d", i))
		if err := os.WriteFile(p, b, os.FileMode(0o600+rng.IntN(0o177))); err != nil {
			t.Fatal(err)
		}
		mt := time.Unix(1_600_000_000+int64(rng.IntN(1e8)), int64(rng.IntN(1e9)))
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			if err := os.Symlink(fmt.Sprintf("f%d", i), filepath.Join(d, fmt.Sprintf("l%d", i))); err != nil {
				t.Fatal(err)
			}
		}
		if i%101 == 0 {
			if err := os.Link(p, filepath.Join(d, fmt.Sprintf("h%d", i))); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestRsync copies a generated tree onto the mount with rsync -a, checks
// it with diff -r, and checks that a second rsync finds nothing to do
// (modes, times and sizes came through). SHOAL_FUSE_TREE_FILES sets the
// tree size (default 300; the size is 5000).
func TestRsync(t *testing.T) {
	needFUSE(t)
	rsync := needTool(t, "rsync")
	diff := needTool(t, "diff")
	n := envInt(t, "SHOAL_FUSE_TREE_FILES", 300)
	src := t.TempDir()
	makeTree(t, src, n, rand.New(rand.NewPCG(uint64(n), 7)))
	eachBackend(t, func(t *testing.T, b backend) {
		mnt := mountFresh(t, b, Options{})
		dst := filepath.Join(mnt, "copy")
		sh(t, rsync, "-aH", src+"/", dst+"/")
		sh(t, diff, "-r", "--no-dereference", src, dst)
		if out := sh(t, rsync, "-aHi", src+"/", dst+"/"); strings.TrimSpace(out) != "" {
			t.Errorf("second rsync -a found changes:\n%s", out)
		}
	})
}

// TestGit clones a small repository onto the mount and checks it with
// git status and git fsck, then commits there.
func TestGit(t *testing.T) {
	needFUSE(t)
	git := needTool(t, "git")
	repo := t.TempDir()
	sh(t, git, "-C", repo, "init", "-q", "-b", "main")
	rng := rand.New(rand.NewPCG(1, 2))
	for c := 0; c < 3; c++ {
		makeTree(t, filepath.Join(repo, fmt.Sprintf("c%d", c)), 40, rng)
		sh(t, git, "-C", repo, "add", "-A")
		sh(t, git, "-C", repo, "commit", "-q", "-m", fmt.Sprintf("commit %d", c))
	}
	eachBackend(t, func(t *testing.T, b backend) {
		mnt := mountFresh(t, b, Options{})
		sh(t, git, "-C", mnt, "clone", "-q", repo, "clone")
		work := filepath.Join(mnt, "clone")
		if out := sh(t, git, "-C", work, "status", "--porcelain"); out != "" {
			t.Fatalf("git status after clone:\n%s", out)
		}
		sh(t, git, "-C", work, "fsck", "--full", "--strict")
		if err := os.WriteFile(filepath.Join(work, "new"), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		sh(t, git, "-C", work, "add", "new")
		sh(t, git, "-C", work, "commit", "-q", "-m", "on the mount")
		sh(t, git, "-C", work, "gc", "-q")
		if out := sh(t, git, "-C", work, "status", "--porcelain"); out != "" {
			t.Fatalf("git status after commit and gc:\n%s", out)
		}
		sh(t, git, "-C", work, "fsck", "--full", "--strict")
	})
}

// TestSQLite runs sqlite3 on the mount in rollback-journal and WAL modes
// and checks PRAGMA integrity_check.
func TestSQLite(t *testing.T) {
	needFUSE(t)
	sqlite := needTool(t, "sqlite3")
	eachBackend(t, func(t *testing.T, b backend) {
		mnt := mountFresh(t, b, Options{})
		for _, mode := range []string{"delete", "wal"} {
			db := filepath.Join(mnt, mode+".db")
			var script strings.Builder
			fmt.Fprintf(&script, "PRAGMA journal_mode=%s;\nCREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT);\n", mode)
			for tx := 0; tx < 20; tx++ {
				script.WriteString("BEGIN;\n")
				for i := 0; i < 100; i++ {
					fmt.Fprintf(&script, "INSERT INTO t(v) VALUES (hex(randomblob(%d)));\n", 50+i*7)
				}
				script.WriteString("COMMIT;\n")
				if tx%5 == 4 {
					fmt.Fprintf(&script, "DELETE FROM t WHERE k %% 3 = %d;\n", tx%3)
				}
			}
			script.WriteString("CREATE INDEX tv ON t(v);\nVACUUM;\n")
			cmd := exec.Command(sqlite, db)
			cmd.Stdin = strings.NewReader(script.String())
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: sqlite3: %v\n%s", mode, err, out)
			}
			if out := sh(t, sqlite, db, "PRAGMA integrity_check;"); strings.TrimSpace(out) != "ok" {
				t.Fatalf("%s: integrity_check: %s", mode, out)
			}
		}
	})
}

// TestSQLiteTwoMounts runs two sqlite3 writers at once on one database
// through two mounts of one server (rollback journal: sqlite's POSIX
// locks, kept in the engine, serialise them), then checks that every
// row of both is there and PRAGMA integrity_check is ok. WAL mode is not
// tried across mounts: its -shm index is shared memory (mmap) that two
// machines' page caches cannot share (docs/fuse.md).
func TestSQLiteTwoMounts(t *testing.T) {
	needFUSE(t)
	sqlite := needTool(t, "sqlite3")
	e := backends[1].fresh(t)
	mnts := [2]string{}
	// Names and attributes are not trusted for a timeout: sqlite creates
	// and deletes its journal through one mount while the other looks
	// for it (a hot journal), and a cached name would be stale.
	mnts[0], _ = e.mount(t, Options{NoAttrCache: true})
	mnts[1], _ = e.mount(t, Options{NoAttrCache: true})
	sh(t, sqlite, filepath.Join(mnts[0], "two.db"), "PRAGMA journal_mode=delete; CREATE TABLE t(k INTEGER PRIMARY KEY, w INTEGER, v TEXT);")
	const txs, rows = 30, 20
	errs := make(chan error, 2)
	for w := range 2 {
		var script strings.Builder
		script.WriteString(".timeout 60000\n")
		for tx := 0; tx < txs; tx++ {
			script.WriteString("BEGIN IMMEDIATE;\n")
			for i := 0; i < rows; i++ {
				fmt.Fprintf(&script, "INSERT INTO t(w, v) VALUES (%d, hex(randomblob(%d)));\n", w, 40+i*13)
			}
			script.WriteString("COMMIT;\n")
		}
		cmd := exec.Command(sqlite, "-bail", filepath.Join(mnts[w], "two.db"))
		cmd.Dir = "/"
		cmd.Stdin = strings.NewReader(script.String())
		go func() {
			out, err := cmd.CombinedOutput()
			if err != nil {
				err = fmt.Errorf("writer %d: %v\n%s", w, err, out)
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range mnts {
		db := filepath.Join(m, "two.db")
		if out := strings.TrimSpace(sh(t, sqlite, db, "PRAGMA integrity_check;")); out != "ok" {
			t.Fatalf("%s: integrity_check: %s", m, out)
		}
		want := fmt.Sprintf("0|%d\n1|%d", txs*rows, txs*rows)
		if out := strings.TrimSpace(sh(t, sqlite, db, "SELECT w, count(*) FROM t GROUP BY w ORDER BY w;")); out != want {
			t.Fatalf("%s: rows per writer:\n%s\nwant\n%s", m, out, want)
		}
	}
}
