package console_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/server"
)

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "shoal test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestTLS: under --tls-cert the console is served over TLS, sets a Secure
// cookie, and reaches the server's API through its pinned certificate.
func TestTLS(t *testing.T) {
	certFile, keyFile := selfSigned(t, t.TempDir())
	srv, err := server.New(server.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", WorkerListen: "127.0.0.1:0", WebListen: "127.0.0.1:0",
		Console: forServer, Tokens: tokens(), TLSCert: certFile, TLSKey: keyFile, GCInterval: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	b := &browser{t: t, base: "https://" + srv.WebAddr(), hc: hc}
	req, _ := http.NewRequest("POST", b.base+"/api/login", strings.NewReader(`{"token":"`+aliceTok+`"}`))
	req.Header.Set("X-Shoal-Console", "1")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sc := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != http.StatusOK || !strings.Contains(sc, "Secure") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") {
		t.Fatalf("login over TLS: %d, cookie %q", resp.StatusCode, sc)
	}
	code, out := b.do("PUT", "/api/fs/upload?path=tmp-file", strings.NewReader("x"), true, nil)
	if code != http.StatusForbidden { // alice may not write at the root: the call reached meta
		t.Fatalf("upload over TLS: %d %s", code, out)
	}
	b.json("GET", "/api/fs/list", nil, http.StatusOK)
	w := b.json("GET", "/api/workers", nil, http.StatusOK)
	if ws := w["workers"].([]any); len(ws) != 1 || !strings.HasPrefix(ws[0].(map[string]any)["ready"].(string), "200") {
		t.Fatalf("workers over TLS: %v", w)
	}
}
