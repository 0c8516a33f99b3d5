// Package versitygw starts a real third-party S3 server for a test: the
// versitygw gateway (github.com/versity/versitygw) with its posix backend
// over a temporary directory, on a free loopback port, killed when the
// test ends.
//
// The binary is $SHOAL_VERSITYGW, else versitygw on PATH; `make test`
// builds v1.8.0 with go install into .cache/bin and sets SHOAL_VERSITYGW.
// Without it Start skips the test, saying how to get it.
//
// Buckets are directories of the backend: Bucket creates one with the
// S3 API's CreateBucket semantics by making the directory before the
// gateway sees a request for it (the posix backend treats every top-level
// directory as a bucket).
package versitygw

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/testserver"
)

// Env names the environment variable holding the binary's path.
const Env = "SHOAL_VERSITYGW"

// The root credentials the server accepts.
const (
	AccessKey = "shoaltestaccess"
	SecretKey = "shoaltestsecretkey0123456789"
	Region    = "us-east-1"
)

// Options configures Start. The zero value works.
type Options struct {
	// VirtualDomain, when set, also enables virtual-hosted-style
	// addressing for buckets under that domain (bucket.domain).
	VirtualDomain string
}

// Server is a running gateway.
type Server struct {
	// Addr is its host:port; Endpoint its http:// URL.
	Addr, Endpoint string
	// Dir is the backend's top directory (one subdirectory per bucket).
	Dir string
}

// Bin returns the gateway binary, or why there is none.
func Bin() (string, error) {
	if p := os.Getenv(Env); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$%s=%s: %v", Env, p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("versitygw not found: set $%s or run `make test`, which builds it (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)", Env)
}

// Start starts a gateway for t, or skips t when the binary is missing.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin, err := Bin()
	if err != nil {
		t.Skipf("testserver/versitygw: %v", err)
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for range 3 { // the free port may be taken before the gateway binds it
		addr, err := testserver.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"--access", AccessKey, "--secret", SecretKey, "--region", Region, "--port", addr, "--quiet"}
		if o.VirtualDomain != "" {
			args = append(args, "--virtual-domain", o.VirtualDomain)
		}
		args = append(args, "posix", root)
		cmd := exec.Command(bin, args...)
		// A test binary killed before its cleanup takes the gateway
		// with it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("testserver/versitygw: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if lastErr = waitReady(addr, exited); lastErr == nil {
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
			})
			return &Server{Addr: addr, Endpoint: "http://" + addr, Dir: root}
		}
		cmd.Process.Kill()
		<-exited
		lastErr = fmt.Errorf("%v\n%s", lastErr, out.String())
	}
	t.Fatalf("testserver/versitygw: start: %v", lastErr)
	return nil
}

// waitReady waits until the gateway answers HTTP at addr.
func waitReady(addr string, exited <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	cl := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			// Any HTTP answer (an S3 error for an anonymous request)
			// means the server is serving.
			if resp, err := cl.Get("http://" + addr + "/"); err == nil {
				resp.Body.Close()
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not serving on %s after 30s", addr)
}

// Bucket creates an empty bucket named name.
func (s *Server) Bucket(t testing.TB, name string) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(s.Dir, name), 0o755); err != nil {
		t.Fatalf("testserver/versitygw: bucket %s: %v", name, err)
	}
}
