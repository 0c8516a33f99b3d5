// Package ring places keys on a consistent-hash ring of members with
// virtual nodes. It owns the placement function that every client, worker
// and the Python SDK must compute identically: given the same Params and
// the same member ids, Place and Walk return the same answer everywhere.
//
// Invariants:
//   - Placement depends only on Params and the set of member ids, never on
//     their order or on anything local to the process.
//   - A member's points are hash(id + "#" + i) for i in [0, VNodes); a key
//     belongs to the first point at or after hash(key), wrapping at the top.
//     Points are ordered by hash, then by member id, so ties are resolved the
//     same way in every implementation.
//   - Walk lists distinct members in ring order from a key's point: its
//     first entry is Place's answer, and removing a member moves only the
//     keys it held (each to the next member of its walk).
//   - The golden vectors in testdata/ pin this for Go (ring_test.go) and for
//     Python (python/tests/test_ring.py, python/src/shoal/_ring.py). A change
//     of algorithm is a new Params.Version, never an edit of version 1.
package ring

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
)

// Hash names.
const (
	// HashSHA256 is the first 8 bytes of SHA-256, read big-endian. Chosen
	// because every language's standard library has it (Python's hashlib),
	// so the SDKs need no third-party hash; it spreads points well.
	HashSHA256 = "sha256"
)

// Params are the ring's parameters. The meta service serves them with the
// member list, so a client never places with parameters of its own.
type Params struct {
	// Version of the placement algorithm. Only 1 exists.
	Version uint32
	// VNodes is the number of points each member has on the ring.
	VNodes int
	// Hash names the hash of points and keys (HashSHA256).
	Hash string
}

// MaxVNodes bounds VNodes so a bad parameter cannot make a client build a
// ring of billions of points.
const MaxVNodes = 4096

// Default returns the parameters of version 1: 128 points per member
// keeps each member's share within a few percent of even for small rings.
func Default() Params {
	return Params{Version: 1, VNodes: 128, Hash: HashSHA256}
}

// Validate reports parameters this implementation cannot place with. A
// client refuses them instead of placing differently from the others.
func (p Params) Validate() error {
	if p.Version != 1 {
		return fmt.Errorf("ring: unknown version %d (this build knows 1)", p.Version)
	}
	if p.VNodes < 1 || p.VNodes > MaxVNodes {
		return fmt.Errorf("ring: vnodes %d out of range [1, %d]", p.VNodes, MaxVNodes)
	}
	if p.Hash != HashSHA256 {
		return fmt.Errorf("ring: unknown hash %q (this build knows %q)", p.Hash, HashSHA256)
	}
	return nil
}

func (p Params) String() string {
	return fmt.Sprintf("v%d/%s/%d", p.Version, p.Hash, p.VNodes)
}

// Hash64 is the hash of version 1 over s.
func Hash64(s string) uint64 {
	sum := sha256.Sum256([]byte(s))
	return binary.BigEndian.Uint64(sum[:8])
}

type point struct {
	h      uint64
	member int // index into Ring.members
}

// Ring is an immutable ring; build a new one when the members change.
// It is safe for concurrent use.
type Ring struct {
	params  Params
	members []string // sorted
	points  []point  // sorted by (h, members[member])
}

// New builds the ring of members under p. Duplicate ids count once; an
// empty id is an error. A ring of no members places nothing.
func New(p Params, members []string) (*Ring, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(members))
	seen := make(map[string]bool, len(members))
	for _, m := range members {
		if m == "" {
			return nil, fmt.Errorf("ring: empty member id")
		}
		if !seen[m] {
			seen[m] = true
			ids = append(ids, m)
		}
	}
	sort.Strings(ids)
	r := &Ring{params: p, members: ids, points: make([]point, 0, len(ids)*p.VNodes)}
	for mi, id := range ids {
		for i := 0; i < p.VNodes; i++ {
			r.points = append(r.points, point{h: Hash64(id + "#" + strconv.Itoa(i)), member: mi})
		}
	}
	// Members are sorted, so on equal hashes the lower index is the lower id.
	sort.Slice(r.points, func(a, b int) bool {
		pa, pb := r.points[a], r.points[b]
		if pa.h != pb.h {
			return pa.h < pb.h
		}
		return pa.member < pb.member
	})
	return r, nil
}

// Params returns the ring's parameters.
func (r *Ring) Params() Params { return r.params }

// Members returns the member ids, sorted. The caller must not modify it.
func (r *Ring) Members() []string { return r.members }

// Len is the number of members.
func (r *Ring) Len() int { return len(r.members) }

// start is the index of key's point: the first at or after its hash.
func (r *Ring) start(key string) int {
	h := Hash64(key)
	i := sort.Search(len(r.points), func(i int) bool { return r.points[i].h >= h })
	if i == len(r.points) {
		i = 0
	}
	return i
}

// Place returns the member that holds key; false when the ring is empty.
func (r *Ring) Place(key string) (string, bool) {
	if len(r.points) == 0 {
		return "", false
	}
	return r.members[r.points[r.start(key)].member], true
}

// Walk returns up to n distinct members in ring order from key's point:
// the holder first, then the members a client falls back to when the ones
// before fail. n <= 0 means every member.
func (r *Ring) Walk(key string, n int) []string {
	if n <= 0 || n > len(r.members) {
		n = len(r.members)
	}
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	taken := make([]bool, len(r.members))
	for i, s := 0, r.start(key); i < len(r.points) && len(out) < n; i++ {
		m := r.points[(s+i)%len(r.points)].member
		if !taken[m] {
			taken[m] = true
			out = append(out, r.members[m])
		}
	}
	return out
}
