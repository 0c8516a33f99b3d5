package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// SocketEnv names the environment variable that overrides the socket path.
const SocketEnv = "SHOAL_AGENT_SOCKET"

// DefaultSocket is the per-user socket path: $SHOAL_AGENT_SOCKET, else
// $XDG_RUNTIME_DIR/shoal/agent.sock, else /tmp/shoal-<uid>/agent.sock.
// The Python package computes the same path.
func DefaultSocket() string {
	if p := os.Getenv(SocketEnv); p != "" {
		return p
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "shoal", "agent.sock")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("shoal-%d", os.Geteuid()), "agent.sock")
}

// privateDir creates dir (0700) if needed and checks that it belongs to
// this user and is closed to everyone else: the socket's directory is
// what keeps other users out.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent: socket directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("agent: socket directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok {
		return fmt.Errorf("agent: socket directory %s is not a directory", dir)
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("agent: socket directory %s belongs to uid %d, not %d", dir, st.Uid, os.Geteuid())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("agent: socket directory: %w", err)
		}
	}
	return nil
}

// peer is who is on the other end of a connection, as the kernel says.
type peer struct {
	pid      int32
	uid, gid uint32
	groups   []uint32
}

func peerOf(c *net.UnixConn) (peer, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return peer{}, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return peer{}, err
	}
	if cerr != nil {
		return peer{}, cerr
	}
	p := peer{pid: cred.Pid, uid: cred.Uid, gid: cred.Gid}
	p.groups = procGroups(cred.Pid)
	return p, nil
}

// procGroups reads a process's supplementary groups from /proc, since
// SO_PEERCRED carries only the primary gid. A process that is gone has
// no groups; its requests then carry uid and gid only.
func procGroups(pid int32) []uint32 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/status")
	if err != nil {
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "Groups:")
		if !ok {
			continue
		}
		var gs []uint32
		for _, f := range strings.Fields(rest) {
			if g, err := strconv.ParseUint(f, 10, 32); err == nil {
				gs = append(gs, uint32(g))
			}
		}
		return gs
	}
	return nil
}
