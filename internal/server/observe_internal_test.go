package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestReadyzEngineClosed: the server's /readyz fails once its engine is
// gone (the recovery half is internal/health's TestReadinessFollowsEngine:
// an embedded Badger engine cannot come back within one process).
func TestReadyzEngineClosed(t *testing.T) {
	s, err := New(Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", WorkerListen: "127.0.0.1:0", GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := s.obs.blockHandler(http.NotFoundHandler())
	probe := func() (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := probe(); code != http.StatusOK {
		t.Fatalf("readyz: %d %s", code, body)
	}
	s.eng.Close()
	code, body := probe()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "engine:") {
		t.Fatalf("readyz with the engine closed: %d %s", code, body)
	}
	if err := s.Health().Ready(context.Background()); err == nil {
		t.Fatal("Ready with the engine closed")
	}
}
