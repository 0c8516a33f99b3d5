package shoal

import (
	"context"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// StatFS reports the room of the block store: the data directory's disk
// (bytes stored plus its free space), or the configured quota; never the
// 1 PiB placeholder. Locally and over Dial.
func TestStatFSCapacity(t *testing.T) { eachBackend(t, testStatFSCapacity) }

func testStatFSCapacity(t *testing.T, b backend) {
	env := b.fresh(t)
	c, err := env.client(t)
	if err != nil {
		t.Fatal(err)
	}
	must(t, c.WriteFile("f", make([]byte, 1<<20), 0o644))
	st, err := c.StatFS()
	must(t, err)
	dir := env.dir
	if b.remote {
		dir = os.TempDir() // where sharedServer made its data directory
	}
	var host unix.Statfs_t
	if err := unix.Statfs(dir, &host); err != nil {
		t.Fatal(err)
	}
	hostFree := host.Bavail * uint64(host.Bsize)
	// Others write the same disk meanwhile: allow them 1 GiB.
	if diff := int64(st.AvailBytes) - int64(hostFree); diff > 1<<30 || diff < -(1<<30) {
		t.Errorf("avail %d, the disk has %d free", st.AvailBytes, hostFree)
	}
	if st.TotalBytes != st.UsedBytes+st.AvailBytes || st.TotalBytes > host.Blocks*uint64(host.Bsize) {
		t.Errorf("total %d = used %d + avail %d? disk size %d", st.TotalBytes, st.UsedBytes, st.AvailBytes, host.Blocks*uint64(host.Bsize))
	}
	if b.remote {
		return
	}
	// A quota is the size.
	c.Close()
	q, err := OpenLocal(context.Background(), env.dir, WithCapacity(64<<20), WithGCInterval(0))
	must(t, err)
	defer q.Close()
	st, err = q.StatFS()
	must(t, err)
	if st.TotalBytes != 64<<20 || st.AvailBytes != 64<<20-st.UsedBytes {
		t.Errorf("with a 64 MiB quota: %+v", st)
	}
}
