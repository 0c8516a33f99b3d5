package fusefs

import (
	"sort"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
)

// posixSkip lists the posixtest checks the mount does not pass, and why.
// docs/fuse.md carries the same list.
var posixSkip = map[string]string{
	// The check expects two descriptors of one process to conflict under
	// F_SETLK, which only open-file-description locks do. The mount leaves
	// record locks to the kernel (kept per mount, not yet in the engine),
	// where POSIX locks of one process never conflict, as on ext4.
	"FcntlFlockLocksFile": "F_SETLK locks are kept by the kernel per mount (POSIX per-process semantics); engine-held locks are not built yet",
}

func TestPosix(t *testing.T) {
	needFUSE(t)
	var names []string
	for name := range posixtest.All {
		names = append(names, name)
	}
	sort.Strings(names)
	eachBackend(t, func(t *testing.T, b backend) {
		for _, name := range names {
			t.Run(name, func(t *testing.T) {
				if why, ok := posixSkip[name]; ok {
					t.Skip(why)
				}
				posixtest.All[name](t, mountFresh(t, b, Options{}))
			})
		}
	})
}
