package pagecache

import "fmt"

// Policy names for Options.Policy.
const (
	// PolicyS3FIFO is S3-FIFO (Yang et al., SOSP 2023): a small FIFO that
	// new pages enter, a main FIFO for pages used again while in the
	// small one, and a ghost FIFO of recently evicted keys. It is the
	// default: a one-pass scan flows through the small FIFO without
	// touching the main one (TestPolicies, docs/benchmarks.md).
	PolicyS3FIFO = "s3fifo"
	// PolicyLRU is least-recently-used.
	PolicyLRU = "lru"
)

// Policies are the eviction policies Options.Policy may name; the first is
// the default.
var Policies = []string{PolicyS3FIFO, PolicyLRU}

// policy orders the pages of one tier for eviction. It tracks only keys and
// sizes; the tier holds the pages. Every method is called with the cache's
// lock held. A policy given a budget evicts so that the pages it tracks fit
// in it when its owner asks.
type policy[K comparable] interface {
	// add starts tracking k (not tracked yet) of size bytes. warm marks a
	// page known to have been used before (found on disk at Open): a
	// policy that separates new pages from proven ones counts it proven.
	add(k K, size int64, warm bool)
	// hit records a use of tracked page k.
	hit(k K)
	// remove stops tracking k (dropped by its owner, not evicted); a
	// no-op when k is not tracked.
	remove(k K)
	// evict chooses a victim, stops tracking it and returns it; ok is
	// false when nothing is tracked.
	evict() (k K, ok bool)
	// bytes is the sum of the tracked pages' sizes.
	bytes() int64
}

func newPolicy[K comparable](name string, budget int64) (policy[K], error) {
	switch name {
	case PolicyLRU:
		return newLRU[K](), nil
	case PolicyS3FIFO:
		return newS3FIFO[K](budget), nil
	}
	return nil, fmt.Errorf("unknown eviction policy %q (known: %v)", name, Policies)
}

// node is an element of a queue: a doubly linked ring through a sentinel,
// kept by hand so that moving a node allocates nothing.
type node[K comparable] struct {
	prev, next *node[K]
	key        K
	size       int64
	freq       uint8 // S3-FIFO: uses since insertion or the last look, capped at 3
	inMain     bool  // S3-FIFO: which queue
}

// queue is a FIFO of nodes: push at the head, pop at the tail.
type queue[K comparable] struct {
	root  node[K]
	bytes int64
	n     int
}

func (q *queue[K]) init() { q.root.prev, q.root.next = &q.root, &q.root }

func (q *queue[K]) pushHead(n *node[K]) {
	n.prev, n.next = &q.root, q.root.next
	q.root.next.prev = n
	q.root.next = n
	q.bytes += n.size
	q.n++
}

func (q *queue[K]) unlink(n *node[K]) {
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = nil, nil
	q.bytes -= n.size
	q.n--
}

// tail is the oldest node, or nil.
func (q *queue[K]) tail() *node[K] {
	if q.n == 0 {
		return nil
	}
	return q.root.prev
}

// lru is least-recently-used: a hit moves the page to the head, the tail
// is evicted.
type lru[K comparable] struct {
	q     queue[K]
	nodes map[K]*node[K]
}

func newLRU[K comparable]() *lru[K] {
	p := &lru[K]{nodes: map[K]*node[K]{}}
	p.q.init()
	return p
}

func (p *lru[K]) add(k K, size int64, _ bool) {
	n := &node[K]{key: k, size: size}
	p.nodes[k] = n
	p.q.pushHead(n)
}

func (p *lru[K]) hit(k K) {
	if n := p.nodes[k]; n != nil {
		p.q.unlink(n)
		p.q.pushHead(n)
	}
}

func (p *lru[K]) remove(k K) {
	if n := p.nodes[k]; n != nil {
		p.q.unlink(n)
		delete(p.nodes, k)
	}
}

func (p *lru[K]) evict() (K, bool) {
	n := p.q.tail()
	if n == nil {
		var zero K
		return zero, false
	}
	p.q.unlink(n)
	delete(p.nodes, n.key)
	return n.key, true
}

func (p *lru[K]) bytes() int64 { return p.q.bytes }

// s3fifo is S3-FIFO sized in bytes: the small queue's share is a tenth of
// the budget, the ghost queue remembers as many bytes of evicted keys as
// the main queue's share. A hit only bumps a counter (no list move, so the
// hot path stays cheap); the queues are reordered at eviction time:
//   - a page entering the cache goes to the small queue, or straight to
//     the main one when its key is in the ghost queue (it was evicted
//     recently and is asked for again);
//   - the small queue's tail moves to the main queue if it was used since
//     it entered, else it is evicted and its key enters the ghost queue;
//   - the main queue's tail is reinserted at the head with one use less
//     if it was used, else evicted.
//
// The small queue is evicted from while it holds more than its share, the
// main queue otherwise. A one-pass scan therefore only ever displaces the
// small queue: its pages are never used a second time.
type s3fifo[K comparable] struct {
	smallTarget int64
	ghostTarget int64
	small, main queue[K]
	nodes       map[K]*node[K]
	ghost       queue[K]
	ghosts      map[K]*node[K]
}

const s3fifoMaxFreq = 3

func newS3FIFO[K comparable](budget int64) *s3fifo[K] {
	p := &s3fifo[K]{
		smallTarget: budget / 10,
		ghostTarget: budget - budget/10,
		nodes:       map[K]*node[K]{},
		ghosts:      map[K]*node[K]{},
	}
	p.small.init()
	p.main.init()
	p.ghost.init()
	return p
}

func (p *s3fifo[K]) add(k K, size int64, warm bool) {
	n := &node[K]{key: k, size: size}
	p.nodes[k] = n
	if g := p.ghosts[k]; g != nil {
		p.ghost.unlink(g)
		delete(p.ghosts, k)
		warm = true
	}
	if warm {
		n.inMain = true
		p.main.pushHead(n)
		return
	}
	p.small.pushHead(n)
}

func (p *s3fifo[K]) hit(k K) {
	if n := p.nodes[k]; n != nil && n.freq < s3fifoMaxFreq {
		n.freq++
	}
}

func (p *s3fifo[K]) remove(k K) {
	if n := p.nodes[k]; n != nil {
		p.queueOf(n).unlink(n)
		delete(p.nodes, k)
	}
	if g := p.ghosts[k]; g != nil {
		p.ghost.unlink(g)
		delete(p.ghosts, k)
	}
}

func (p *s3fifo[K]) queueOf(n *node[K]) *queue[K] {
	if n.inMain {
		return &p.main
	}
	return &p.small
}

func (p *s3fifo[K]) evict() (K, bool) {
	for {
		if p.small.n > 0 && (p.small.bytes > p.smallTarget || p.main.n == 0) {
			n := p.small.tail()
			p.small.unlink(n)
			if n.freq > 0 {
				n.freq = 0
				n.inMain = true
				p.main.pushHead(n)
				continue
			}
			delete(p.nodes, n.key)
			p.addGhost(n.key, n.size)
			return n.key, true
		}
		n := p.main.tail()
		if n == nil {
			var zero K
			return zero, false
		}
		p.main.unlink(n)
		if n.freq > 0 {
			n.freq--
			p.main.pushHead(n)
			continue
		}
		delete(p.nodes, n.key)
		return n.key, true
	}
}

func (p *s3fifo[K]) addGhost(k K, size int64) {
	g := &node[K]{key: k, size: size}
	p.ghosts[k] = g
	p.ghost.pushHead(g)
	for p.ghost.bytes > p.ghostTarget {
		t := p.ghost.tail()
		p.ghost.unlink(t)
		delete(p.ghosts, t.key)
	}
}

func (p *s3fifo[K]) bytes() int64 { return p.small.bytes + p.main.bytes }
