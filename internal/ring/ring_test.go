package ring

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json from this implementation")

// golden is testdata/golden.json, read by python/tests/test_ring.py too.
type golden struct {
	Comment string       `json:"comment"`
	Hashes  []goldenHash `json:"hashes"`
	Rings   []goldenRing `json:"rings"`
}

type goldenHash struct {
	S string `json:"s"`
	H string `json:"h"` // 16 hex digits
}

type goldenRing struct {
	Version uint32       `json:"version"`
	VNodes  int          `json:"vnodes"`
	Hash    string       `json:"hash"`
	Members []string     `json:"members"`
	Keys    []goldenWalk `json:"keys"`
}

type goldenWalk struct {
	Key  string   `json:"key"`
	Walk []string `json:"walk"`
}

func goldenKeys() []string {
	keys := []string{"", "a", "é/ü/日本", "chunks/0/0/1_0_4194304", "ufs/s3://bucket/prefix/part-0001.parquet#page=7"}
	for i := 0; i < 24; i++ {
		keys = append(keys, fmt.Sprintf("chunks/0/0/%d_%d_4194304", 1000+i*37, i%5))
	}
	return keys
}

func build() golden {
	g := golden{Comment: "ring placement vectors: regenerate with go test ./internal/ring -update; checked by internal/ring and python/tests/test_ring.py"}
	for _, s := range []string{"", "a", "w1#0", "chunks/0/0/1_0_4194304", "é"} {
		g.Hashes = append(g.Hashes, goldenHash{S: s, H: fmt.Sprintf("%016x", Hash64(s))})
	}
	sets := []struct {
		vnodes  int
		members []string
	}{
		{128, []string{"w1"}},
		{128, []string{"w1", "w2", "w3"}},
		{128, []string{"w1", "w3"}}, // w2 gone
		{16, []string{"127.0.0.2:7001", "127.0.0.3:7001", "127.0.0.4:7001", "worker-a", "worker-b"}},
		{1, []string{"x", "y"}},
	}
	for _, set := range sets {
		p := Params{Version: 1, VNodes: set.vnodes, Hash: HashSHA256}
		r, err := New(p, set.members)
		if err != nil {
			panic(err)
		}
		gr := goldenRing{Version: p.Version, VNodes: p.VNodes, Hash: p.Hash, Members: set.members}
		for _, k := range goldenKeys() {
			gr.Keys = append(gr.Keys, goldenWalk{Key: k, Walk: r.Walk(k, 0)})
		}
		g.Rings = append(g.Rings, gr)
	}
	return g
}

func TestGolden(t *testing.T) {
	path := filepath.Join("testdata", "golden.json")
	got := build()
	if *update {
		b, err := json.MarshalIndent(got, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want golden
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for i, h := range want.Hashes {
		if g := fmt.Sprintf("%016x", Hash64(h.S)); g != h.H {
			t.Errorf("hash %d (%q) = %s, golden %s", i, h.S, g, h.H)
		}
	}
	for _, gr := range want.Rings {
		r, err := New(Params{Version: gr.Version, VNodes: gr.VNodes, Hash: gr.Hash}, gr.Members)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range gr.Keys {
			if w := r.Walk(k.Key, 0); !reflect.DeepEqual(w, k.Walk) {
				t.Errorf("ring %v vnodes %d: walk(%q) = %v, golden %v", gr.Members, gr.VNodes, k.Key, w, k.Walk)
			}
			if m, _ := r.Place(k.Key); m != k.Walk[0] {
				t.Errorf("place(%q) = %s, golden %s", k.Key, m, k.Walk[0])
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("golden.json is not what this implementation generates; run go test ./internal/ring -update and review the diff")
	}
}

func TestOrderIndependent(t *testing.T) {
	a, _ := New(Default(), []string{"c", "a", "b", "a"})
	b, _ := New(Default(), []string{"a", "b", "c"})
	for _, k := range goldenKeys() {
		if !reflect.DeepEqual(a.Walk(k, 0), b.Walk(k, 0)) {
			t.Fatalf("walk(%q) depends on member order", k)
		}
	}
	if a.Len() != 3 {
		t.Fatalf("duplicates counted: %d", a.Len())
	}
}

// Removing a member moves only its keys, each to the next member of its walk.
func TestRemovalMovesOnlyItsKeys(t *testing.T) {
	all := []string{"w1", "w2", "w3", "w4"}
	full, _ := New(Default(), all)
	less, _ := New(Default(), []string{"w1", "w2", "w4"})
	for i := 0; i < 2000; i++ {
		k := fmt.Sprintf("chunks/%d_0_4194304", i)
		w := full.Walk(k, 2)
		got, _ := less.Place(k)
		switch {
		case w[0] != "w3" && got != w[0]:
			t.Fatalf("%s moved from %s to %s though %s stayed", k, w[0], got, w[0])
		case w[0] == "w3" && got != w[1]:
			t.Fatalf("%s of the removed w3 went to %s, not its next member %s", k, got, w[1])
		}
	}
}

// Each member's share stays near even: the point of virtual nodes.
func TestBalance(t *testing.T) {
	members := []string{"w1", "w2", "w3", "w4", "w5"}
	r, _ := New(Default(), members)
	counts := map[string]int{}
	const n = 50000
	for i := 0; i < n; i++ {
		m, _ := r.Place(fmt.Sprintf("chunks/%d_%d_4194304", i/3, i%3))
		counts[m]++
	}
	for _, m := range members {
		share := float64(counts[m]) / n * float64(len(members))
		if share < 0.7 || share > 1.3 {
			t.Errorf("%s holds %.2f of an even share (%v)", m, share, counts)
		}
	}
}

func TestEmptyAndBad(t *testing.T) {
	r, err := New(Default(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Place("k"); ok || r.Walk("k", 3) != nil {
		t.Fatal("an empty ring placed a key")
	}
	for _, p := range []Params{
		{Version: 2, VNodes: 8, Hash: HashSHA256},
		{Version: 1, VNodes: 0, Hash: HashSHA256},
		{Version: 1, VNodes: MaxVNodes + 1, Hash: HashSHA256},
		{Version: 1, VNodes: 8, Hash: "md5"},
	} {
		if _, err := New(p, []string{"a"}); err == nil {
			t.Errorf("%v accepted", p)
		}
	}
	if _, err := New(Default(), []string{"a", ""}); err == nil {
		t.Error("empty id accepted")
	}
}

func BenchmarkPlace(b *testing.B) {
	r, _ := New(Default(), []string{"w1", "w2", "w3", "w4", "w5", "w6"})
	for i := 0; i < b.N; i++ {
		r.Place("chunks/0/0/123456_3_4194304")
	}
}
