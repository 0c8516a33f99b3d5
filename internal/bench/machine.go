package bench

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Machine describes where a report was measured. Every field is best
// effort: an unreadable source leaves its field empty rather than failing
// the run.
type Machine struct {
	CPU         string `json:"cpu"`
	Cores       int    `json:"cores"`
	MemoryBytes uint64 `json:"memory_bytes"`
	Kernel      string `json:"kernel"`
	GoVersion   string `json:"go_version"`
	Disk        Disk   `json:"disk"`
}

// Disk is the filesystem holding the benchmark directory.
type Disk struct {
	Path       string `json:"path"`
	FSType     string `json:"fs_type"` // from statfs f_type
	Device     string `json:"device,omitempty"`
	MountPoint string `json:"mount_point,omitempty"`
	TotalBytes uint64 `json:"total_bytes"`
	FreeBytes  uint64 `json:"free_bytes"`
}

// DescribeMachine reads the CPU, memory, kernel and the disk holding dir
// (or its nearest existing parent).
func DescribeMachine(dir string) Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version()}
	m.CPU = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.ParseUint(strings.Fields(procField("/proc/meminfo", "MemTotal") + " 0")[0], 10, 64); err == nil {
		m.MemoryBytes = kb << 10
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])
	}
	m.Disk = describeDisk(dir)
	return m
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// fsTypes names the statfs magic numbers of filesystems a benchmark is
// likely to land on.
var fsTypes = map[int64]string{
	0xEF53:     "ext2/3/4",
	0x58465342: "xfs",
	0x9123683E: "btrfs",
	0x01021994: "tmpfs",
	0x794C7630: "overlayfs",
	0x2FC12FC1: "zfs",
	0xF2F52010: "f2fs",
	0x6969:     "nfs",
	0xFF534D42: "cifs",
	0x65735546: "fuse",
	0x5346544E: "ntfs",
	0x4D44:     "vfat",
	0x01021997: "9p",
	0x6A656A63: "fakeowner",
}

func describeDisk(dir string) Disk {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	// The directory may not exist yet; its nearest existing parent is on
	// the same filesystem.
	p := abs
	for {
		if _, err := os.Stat(p); err == nil || p == filepath.Dir(p) {
			break
		}
		p = filepath.Dir(p)
	}
	d := Disk{Path: abs}
	var st unix.Statfs_t
	if unix.Statfs(p, &st) == nil {
		d.FSType = fsTypes[int64(st.Type)]
		if d.FSType == "" {
			d.FSType = "0x" + strconv.FormatInt(int64(st.Type), 16)
		}
		d.TotalBytes = st.Blocks * uint64(st.Bsize)
		d.FreeBytes = st.Bavail * uint64(st.Bsize)
	}
	d.MountPoint, d.Device = mountOf(p)
	return d
}

// mountOf finds the mount holding path in /proc/self/mountinfo (longest
// mount point that is a prefix of path).
func mountOf(path string) (mountPoint, device string) {
	if r, err := filepath.EvalSymlinks(path); err == nil {
		path = r
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superopts
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if !(path == mp || mp == "/" || strings.HasPrefix(path, mp+"/")) || len(mp) < len(mountPoint) {
			continue
		}
		src := ""
		for i, fld := range fields {
			if fld == "-" && i+2 < len(fields) {
				src = fields[i+2]
				break
			}
		}
		mountPoint, device = mp, src
	}
	return mountPoint, device
}

// unescapeMount undoes mountinfo's octal escapes (\040 for space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
