package cli

import (
	"io/fs"
	"testing"
)

func TestParseModeApply(t *testing.T) {
	tests := []struct {
		mode  string
		old   uint32
		isDir bool
		want  uint32
	}{
		{"755", 0, false, 0o755},
		{"0644", 0o777, false, 0o644},
		{"4755", 0, false, 0o4755},
		{"u+x", 0o644, false, 0o744},
		{"+x", 0o644, false, 0o755},
		{"a-w", 0o666, false, 0o444},
		{"u=rw,go=r", 0o777, false, 0o644},
		{"g-w,o=", 0o775, false, 0o750},
		{"a+X", 0o644, false, 0o644},
		{"a+X", 0o744, false, 0o755},
		{"a+X", 0o600, true, 0o711},
		{"u+s,g+s", 0o755, false, 0o6755},
		{"+t", 0o777, true, 0o1777},
		{"u+t", 0o777, true, 0o777}, // t applies to o only
		{"u=rwx,g=rx,o=", 0, false, 0o750},
		{"u-x+w", 0o500, false, 0o600},
		{"=", 0o4777, false, 0},
		{"=", 0o1777, true, 0},
		{"o=rwx", 0o1770, true, 0o777},
		{"g=", 0o2775, true, 0o2705}, // = keeps a directory's setgid
	}
	for _, tt := range tests {
		spec, err := parseMode(tt.mode)
		if err != nil {
			t.Errorf("parseMode(%q): %v", tt.mode, err)
			continue
		}
		if got := unixPerm(spec.apply(tt.old, tt.isDir)); got != tt.want {
			t.Errorf("%q on %04o: %04o, want %04o", tt.mode, tt.old, got, tt.want)
		}
	}
	for _, bad := range []string{"", "8", "17777", "u", "u+q", "x+r", "u+x,", "rwx"} {
		if _, err := parseMode(bad); err == nil {
			t.Errorf("parseMode(%q) succeeded", bad)
		}
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[fs.FileMode]string{
		0o644:                                 "-rw-r--r--",
		fs.ModeDir | 0o755:                    "drwxr-xr-x",
		fs.ModeSymlink | 0o777:                "lrwxrwxrwx",
		fs.ModeSetuid | 0o755:                 "-rwsr-xr-x",
		fs.ModeSetuid | 0o644:                 "-rwSr--r--",
		fs.ModeDir | fs.ModeSticky | 0o777:    "drwxrwxrwt",
		fs.ModeDir | fs.ModeSticky | 0o776:    "drwxrwxrwT",
		fs.ModeSetgid | 0o750:                 "-rwxr-s---",
		fs.ModeNamedPipe | 0o600:              "prw-------",
		fs.ModeSocket | 0o700:                 "srwx------",
		fs.ModeDevice | 0o660:                 "brw-rw----",
		fs.ModeDevice | fs.ModeCharDevice | 0: "c---------",
	} {
		if got := modeString(m); got != want {
			t.Errorf("modeString(%v) = %q, want %q", m, got, want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for s, want := range map[string]int64{
		"0": 0, "100": 100, "4K": 4096, "4k": 4096, "1.5M": 3 << 19, "2G": 2 << 30,
		"1T": 1 << 40, "3KiB": 3072, "7MB": 7 << 20,
	} {
		if got, err := parseSize(s); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "x", "1Q", "99999999E"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) succeeded", bad)
		}
	}
}

func TestParseOwner(t *testing.T) {
	for s, want := range map[string][2]int{
		"1000": {1000, -1}, "1000:100": {1000, 100}, ":100": {-1, 100}, "1000:": {1000, -1},
		"-1:5": {-1, 5}, "": {-1, -1}, "0:0": {0, 0},
	} {
		u, g, err := parseOwner(s)
		if err != nil || u != want[0] || g != want[1] {
			t.Errorf("parseOwner(%q) = %d, %d, %v; want %v", s, u, g, err, want)
		}
	}
	for _, bad := range []string{"root", "1:wheel", "-2", "4294967295"} {
		if _, _, err := parseOwner(bad); err == nil {
			t.Errorf("parseOwner(%q) succeeded", bad)
		}
	}
}

func TestRemoteName(t *testing.T) {
	for in, want := range map[string]string{
		"": ".", "/": ".", ".": ".", "a": "a", "/a/b": "a/b", "a/b/": "a/b", "//a//b": "a/b", "/../a": "a", "a/./b": "a/b",
	} {
		if got := remote(in); got != want {
			t.Errorf("remote(%q) = %q, want %q", in, got, want)
		}
	}
}
