package fusefs

import (
	"sort"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
)

// posixSkip lists the posixtest checks the mount does not pass, and why.
// docs/fuse.md carries the same list.
var posixSkip = map[string]string{
	// The check takes F_SETLK locks on two descriptors of one process and
	// expects them to conflict, which only open-file-description locks do
	// (go-fuse's loopback passes it because it takes OFD locks on its own
	// descriptors). Record locks are Shoal's, in the engine, with POSIX
	// semantics: the kernel's lock owner of both descriptors is the same
	// process, so the second lock is granted, as on ext4. TestLocks checks
	// conflicts between mounts and with the SDK instead.
	"FcntlFlockLocksFile": "expects two descriptors of one process to conflict under F_SETLK; POSIX record locks of one process never do (as on ext4)",
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
