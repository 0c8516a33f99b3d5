package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestRender(t *testing.T) {
	tests := []struct {
		label       string
		done, total int64
		elapsed     time.Duration
		want        string
	}{
		{"a", 0, 100 << 20, 0, "a    0% [>                       ] 0/100M  0/s  ETA --:--"},
		{"a", 50 << 20, 100 << 20, 5 * time.Second, "a   50% [============>           ] 50M/100M  10M/s  ETA 0:05"},
		{"", 100 << 20, 100 << 20, 10 * time.Second, "100% [========================] 100M/100M  10M/s  ETA 0:00"},
		{"pipe", 3 << 30, -1, 2 * time.Second, "pipe  3.0G  1.5G/s"},
		{"", 1, 4000 << 20, 1 * time.Hour, "  0% [>                       ] 1/3.9G  0/s  ETA --:--"},
		{"", 0, 0, time.Second, "100% [========================] 0/0  0/s  ETA --:--"},
	}
	for _, tt := range tests {
		if got := Render(tt.label, tt.done, tt.total, tt.elapsed); got != tt.want {
			t.Errorf("Render(%q, %d, %d, %v)\n got %q\nwant %q", tt.label, tt.done, tt.total, tt.elapsed, got, tt.want)
		}
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 1023: "1023", 1024: "1.0K", 1536: "1.5K", 23 << 20: "23M",
		1288490189: "1.2G", 10 << 30: "10G", 5 << 40: "5.0T",
	} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestBarThrottlesAndFinishes(t *testing.T) {
	var out bytes.Buffer
	clk := &fakeClock{t: time.Unix(1000, 0)}
	b := New(&out, "f", 1000, WithClock(clk.now))

	b.Add(100) // inside the initial delay: silent
	if out.Len() != 0 {
		t.Fatalf("drew during the initial delay: %q", out.String())
	}
	clk.advance(time.Second)
	b.Add(100)
	draws := strings.Count(out.String(), "\r")
	if draws != 1 {
		t.Fatalf("draws = %d after the delay, want 1: %q", draws, out.String())
	}
	for range 50 { // 50 updates within 50 ms: no redraw
		clk.advance(time.Millisecond)
		b.Add(1)
	}
	if got := strings.Count(out.String(), "\r"); got != draws {
		t.Fatalf("redrew within the interval: %d draws", got)
	}
	clk.advance(100 * time.Millisecond)
	b.Write(make([]byte, 10))
	if got := strings.Count(out.String(), "\r"); got != draws+1 {
		t.Fatalf("draws = %d, want %d", got, draws+1)
	}
	b.Add(740)
	b.Finish()
	b.Finish()
	s := out.String()
	if !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
		t.Fatalf("Finish did not end the line exactly once: %q", s)
	}
	if !strings.Contains(s, "100% [") {
		t.Fatalf("final draw missing 100%%: %q", s)
	}
}

func TestQuickTransferIsSilent(t *testing.T) {
	var out bytes.Buffer
	clk := &fakeClock{t: time.Unix(1000, 0)}
	b := New(&out, "f", 10, WithClock(clk.now))
	b.Add(10)
	clk.advance(10 * time.Millisecond)
	b.Finish()
	if out.Len() != 0 {
		t.Fatalf("quick transfer drew %q", out.String())
	}
}

func TestForTerminalNotATerminal(t *testing.T) {
	var out bytes.Buffer
	if b := ForTerminal(&out, "f", 10); b != nil {
		t.Fatal("ForTerminal on a buffer returned a live bar")
	}
	var nilBar *Bar
	nilBar.Add(5)
	nilBar.Write([]byte("x"))
	nilBar.Finish()
}
