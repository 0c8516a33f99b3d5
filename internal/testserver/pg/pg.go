// Package pg starts a real PostgreSQL server for a test: initdb on a
// fresh temporary directory and pg_ctl start on a free loopback port,
// stopped (immediate mode) and removed when the test ends.
//
// The binaries come from the distribution's package (Debian's
// postgresql, which `make test` installs when missing and it runs as
// root): initdb is looked up on PATH, then under /usr/lib/postgresql.
// Without them Start skips the test, saying why. PostgreSQL refuses to
// run as root, so when the test runs as root the server runs as the
// unprivileged user "nobody" in a directory owned by it.
//
// The server trusts every local connection (no password), and listens
// on 127.0.0.1 and on a Unix socket inside its directory only. It runs
// with fsync off: a commit survives the server's crash (Stop, kill -9),
// which fault tests rely on, but not the machine's. synchronous_commit
// stays on, since off would lose acknowledged commits in a crash of the
// server alone.
package pg

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/shoalfs/shoal/internal/testserver"
)

// Server is a running PostgreSQL server.
type Server struct {
	// Addr is its host:port.
	Addr string
	// Dir holds the cluster, the socket and the log.
	Dir string

	run     func(name string, args ...string) error
	opts    string // the server's options for pg_ctl -o
	stopped bool
}

// URL returns a connection URL for database db as the superuser
// "postgres" (db "" is the "postgres" database).
func (s *Server) URL(db string) string {
	if db == "" {
		db = "postgres"
	}
	return "postgres://postgres@" + s.Addr + "/" + db + "?sslmode=disable"
}

// Start starts a server for t, or skips t when PostgreSQL is not
// installed.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := binDir()
	if err != nil {
		t.Skipf("testserver/pg: %v (install Debian's postgresql, or run `make test` as root, which installs it)", err)
	}
	cred, owner, err := runAs()
	if err != nil {
		t.Skipf("testserver/pg: %v", err)
	}
	// Not t.TempDir: its parents are private to the test's user, and the
	// server may run as another one.
	dir, err := os.MkdirTemp("", "shoal-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if owner != nil {
		if err := os.Chown(dir, owner[0], owner[1]); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	run := func(name string, args ...string) error {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %v\n%s", name, err, out.String())
		}
		return nil
	}
	if err := run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		t.Fatalf("testserver/pg: %v", err)
	}
	var lastErr error
	for range 3 { // the free port may be taken before the server binds it
		addr, err := testserver.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := strings.Cut(addr, ":")
		opts := strings.Join([]string{
			"-p " + port,
			"-k " + dir,
			"-c listen_addresses=127.0.0.1",
			"-c fsync=off",
			"-c full_page_writes=off",
			"-c max_connections=300",
			"-c shared_buffers=32MB",
		}, " ")
		srv := &Server{Addr: addr, Dir: dir, run: run, opts: opts}
		if lastErr = srv.start(); lastErr == nil {
			t.Cleanup(func() {
				if srv.stopped {
					return
				}
				if err := srv.stop(); err != nil {
					t.Logf("testserver/pg: stop: %v", err)
				}
			})
			return srv
		}
		if log, err := os.ReadFile(filepath.Join(dir, "log")); err == nil {
			lastErr = fmt.Errorf("%v\nserver log:\n%s", lastErr, log)
		}
	}
	t.Fatalf("testserver/pg: start: %v", lastErr)
	return nil
}

func (s *Server) start() error {
	return s.run("pg_ctl", "-D", filepath.Join(s.Dir, "data"), "-l", filepath.Join(s.Dir, "log"), "-o", s.opts, "-w", "-t", "60", "start")
}

// stop is an immediate shutdown: no checkpoint, what a crash leaves.
func (s *Server) stop() error {
	return s.run("pg_ctl", "-D", filepath.Join(s.Dir, "data"), "-m", "immediate", "-w", "stop")
}

// Stop stops the server at once, as a crash would (clients see their
// connections cut); Restart starts it again on the same port and data.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatalf("testserver/pg: stop: %v", err)
	}
	s.stopped = true
}

// Restart starts a stopped server again.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("testserver/pg: restart: %v", err)
	}
	s.stopped = false
}

// binDir finds the directory of initdb and pg_ctl.
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if q, err := filepath.EvalSymlinks(p); err == nil {
			p = q
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
			return dir, nil
		}
	}
	// Debian keeps the binaries per major version, off PATH.
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	return "", fmt.Errorf("PostgreSQL not installed: no initdb on PATH or under /usr/lib/postgresql")
}

// runAs returns the credential to run the server with (nil: as this
// process) and the uid/gid that must own its directory.
func runAs() (*syscall.Credential, []int, error) {
	if os.Geteuid() != 0 {
		return nil, nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, nil, fmt.Errorf("running as root and no user \"nobody\" to run PostgreSQL as: %v", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, nil, fmt.Errorf("user nobody has ids %q/%q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, []int{uid, gid}, nil
}
