package shoal_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"testing"
	"time"

	"github.com/shoalfs/shoal"
)

// TestLoadLocal: over OpenLocal the client runs the job itself: submit
// is idempotent while it runs, progress by id and by path agree, the job
// succeeds with every file and byte, and it survives a reopen.
func TestLoadLocal(t *testing.T) {
	dir := t.TempDir()
	c, err := shoal.OpenLocal(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("load"), 1<<16)
	var want int64
	for i := range 12 {
		p := fmt.Sprintf("/ds/sub%d/f%d", i%2, i)
		if err := c.MkdirAll(fmt.Sprintf("/ds/sub%d", i%2), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteFile(p, data[:len(data)-i], 0o644); err != nil {
			t.Fatal(err)
		}
		want += int64(len(data) - i)
	}
	if _, err := c.SubmitLoad("/missing", shoal.LoadOptions{}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("submit of a missing path: %v", err)
	}
	j, err := c.SubmitLoad("ds", shoal.LoadOptions{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if j.Path != "/ds" || j.State != shoal.LoadRunning {
		t.Fatalf("submitted: %+v", j)
	}
	if j2, err := c.SubmitLoad("/ds/", shoal.LoadOptions{}); err != nil || (j2.ID != j.ID && j2.State == shoal.LoadRunning) {
		t.Fatalf("resubmit: %+v %v", j2, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, err = c.LoadProgress(j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != shoal.LoadRunning || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if j.State != shoal.LoadSucceeded || j.Files != 12 || j.DoneFiles != 12 || j.DoneBytes != want || j.Bytes != want {
		t.Fatalf("job: %+v", j)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c, err = shoal.OpenLocal(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if bp, err := c.LoadProgress("/ds"); err != nil || bp.ID != j.ID || bp.State != shoal.LoadSucceeded {
		t.Fatalf("after reopen, by path: %+v %v", bp, err)
	}
	if l, err := c.ListLoads(false); err != nil || len(l) != 1 {
		t.Fatalf("list: %+v %v", l, err)
	}
	if _, err := c.LoadProgress("load-42"); err == nil {
		t.Fatal("progress of an unknown job")
	}
}
