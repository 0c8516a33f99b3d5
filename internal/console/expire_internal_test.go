package console

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/rpc"
)

// TestIdleSessionsExpire: a login unused for longer than Idle is gone.
func TestIdleSessionsExpire(t *testing.T) {
	c, err := New(Options{Addr: "127.0.0.1:1", Tokens: map[string]rpc.Token{"token-12345678": {Uid: 5}}, Idle: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sid, _, err := c.login("token-12345678")
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/api/whoami", nil)
	req.AddCookie(&http.Cookie{Name: cookieName, Value: sid})
	if _, err := c.session(req); err != nil {
		t.Fatal(err)
	}
	c.expire(time.Now().Add(30 * time.Second))
	if _, err := c.session(req); err != nil {
		t.Fatalf("expired too early: %v", err)
	}
	c.expire(time.Now().Add(2 * time.Minute))
	if _, err := c.session(req); err == nil {
		t.Fatal("an idle session survived")
	}
	if _, _, err := c.login("wrong-token-1234"); err == nil {
		t.Fatal("login with an unknown token")
	}
}
