package server_test

import (
	"bytes"
	"net/http"
	"testing"

	pb "github.com/shoalfs/shoal/api/shoalv1"
)

// Resume may not hand a session inodes its caller could not open.
func TestGrantsResumeOpensNothingUnreadable(t *testing.T) {
	srv, _ := start(t, grantServerConfig(t))
	ino, key, _, secret := ownerSecret(t, srv)
	cc := rawConn(t, srv.Addr())
	sc := pb.NewSessionClient(cc)
	r, err := sc.Create(asToken("other-token-1", 0), &pb.CreateSessionRequest{Host: "h", Client: "attacker"})
	must(t, err)
	if _, err := sc.Resume(asToken("other-token-1", 0), &pb.ResumeSessionRequest{Id: r.Id, Open: []uint64{uint64(ino)}}); err != nil {
		return // refused outright: fine too
	}
	if g := readGrantOf(t, cc, "other-token-1", r.Id, ino); g != "" {
		st, b := blockReq(t, "GET", "http://"+srv.WorkerAddr()+"/v1/fs/default/blocks/"+key, "other-token-1", []string{g}, nil)
		t.Fatalf("uid 1001 resumed its session with uid 1000's 0600 file open and read its chunk; GET of its block: %d (secret: %v)",
			st, st == http.StatusOK && bytes.HasPrefix(b, secret))
	}
}
