package shoal_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/shoalfs/shoal"
)

// KV tables keep records (hash key, sort key) -> value, with an optional
// TTL, in the same engine as the filesystems (docs/kvtables.md).
func ExampleClient_Table() {
	c, done := openExample()
	defer done()

	if _, err := c.CreateTable("sessions", shoal.TableOptions{DefaultTTL: 3600}); err != nil {
		log.Fatal(err)
	}
	t := c.Table("sessions")
	if err := t.Set([]byte("user1"), []byte("token"), []byte("abc"), 0); err != nil {
		log.Fatal(err)
	}
	v, found, err := t.Get([]byte("user1"), []byte("token"))
	if err != nil {
		log.Fatal(err)
	}
	ttl, _, _ := t.TTL([]byte("user1"), []byte("token"))
	fmt.Println(string(v), found, ttl > 3500)

	_, found, _ = t.Get([]byte("user2"), []byte("token"))
	fmt.Println(found)

	n, err := t.Incr([]byte("user1"), []byte("logins"), 2, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n)

	_, _, err = c.Table("missing").Get([]byte("h"), []byte("s"))
	fmt.Println(errors.Is(err, shoal.KindNotFound.Errno()))
	// Output:
	// abc true true
	// false
	// 2
	// true
}

// The records of one hash key are sorted by sort key: MultiSet writes
// several atomically, MultiGetOpt reads a range.
func ExampleTable_MultiGetOpt() {
	c, done := openExample()
	defer done()

	if _, err := c.CreateTable("events", shoal.TableOptions{}); err != nil {
		log.Fatal(err)
	}
	t := c.Table("events")
	h := []byte("device7")
	err := t.MultiSet(h, []shoal.KV{
		{SortKey: []byte("2024-01-01"), Value: []byte("boot")},
		{SortKey: []byte("2024-01-02"), Value: []byte("update")},
		{SortKey: []byte("2024-02-01"), Value: []byte("reboot")},
	}, 0)
	if err != nil {
		log.Fatal(err)
	}
	o := shoal.DefaultMultiGetOptions()
	o.SortKeyFilter = shoal.Filter{Type: shoal.FilterMatchPrefix, Pattern: []byte("2024-01")}
	kvs, more, err := t.MultiGetOpt(h, nil, nil, o)
	if err != nil {
		log.Fatal(err)
	}
	for _, kv := range kvs {
		fmt.Println(string(kv.SortKey), string(kv.Value))
	}
	fmt.Println(more)
	// Output:
	// 2024-01-01 boot
	// 2024-01-02 update
	// false
}

// CheckAndSet writes only if a check on a record passes, atomically: here
// a lock taken only when nobody holds it.
func ExampleTable_CheckAndSet() {
	c, done := openExample()
	defer done()

	if _, err := c.CreateTable("locks", shoal.TableOptions{}); err != nil {
		log.Fatal(err)
	}
	t := c.Table("locks")
	take := func(owner string) bool {
		r, err := t.CheckAndSet([]byte("job42"), []byte("owner"), shoal.CheckValueNotExist, nil,
			[]byte("owner"), []byte(owner), shoal.CheckAndSetOptions{SetValueTTL: 30, ReturnCheckValue: true})
		if err != nil {
			log.Fatal(err)
		}
		if !r.SetSucceed {
			fmt.Printf("%s: held by %s\n", owner, r.CheckValue)
		}
		return r.SetSucceed
	}
	fmt.Println(take("worker-a"))
	fmt.Println(take("worker-b"))
	// Output:
	// true
	// worker-b: held by worker-a
	// false
}

// A Scanner reads a hash key's records in batches, in sort-key order.
func ExampleTable_GetScanner() {
	c, done := openExample()
	defer done()

	if _, err := c.CreateTable("scores", shoal.TableOptions{}); err != nil {
		log.Fatal(err)
	}
	t := c.Table("scores")
	items := []shoal.SetItem{
		{HashKey: []byte("game1"), SortKey: []byte("bob"), Value: []byte("7")},
		{HashKey: []byte("game1"), SortKey: []byte("alice"), Value: []byte("9")},
		{HashKey: []byte("game2"), SortKey: []byte("carol"), Value: []byte("5")},
	}
	if _, err := t.BatchSet(items); err != nil {
		log.Fatal(err)
	}
	sc, err := t.GetScanner([]byte("game1"), nil, nil, shoal.DefaultScanOptions())
	if err != nil {
		log.Fatal(err)
	}
	defer sc.Close()
	for {
		_, sk, v, ok, err := sc.Next()
		if err != nil {
			log.Fatal(err)
		}
		if !ok {
			break
		}
		fmt.Println(string(sk), string(v))
	}
	// Output:
	// alice 9
	// bob 7
}
