package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestAdminMount(t *testing.T) {
	dir := t.TempDir()
	fsh(t, dir, "mkdir", "/datasets")
	r := run(t, nil, "admin", "mount", "--data", dir, "s3://bucket/train", "/datasets/x",
		"--endpoint", "http://127.0.0.1:9", "--credentials-file", "/etc/shoal/creds", "--mode", "0440", "--sync-interval", "30s")
	if r.code != 0 || !strings.Contains(r.stdout, "mounted s3://bucket/train at /datasets/x") {
		t.Fatalf("mount: %+v", r)
	}
	r = run(t, nil, "admin", "mount", "list", "--data", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "/datasets/x  s3://bucket/train  http://127.0.0.1:9  /etc/shoal/creds  30s   0440") {
		t.Fatalf("list: %+v", r)
	}
	if r := run(t, nil, "admin", "mount", "--data", dir, "file:///srv", "/datasets/x/in"); r.code == 0 || !strings.Contains(r.stderr, "do not nest") {
		t.Fatalf("nested mount: %+v", r)
	}
	if r := fsFail(t, dir, 1, "mkdir", "/datasets/x/d"); !strings.Contains(r.stderr, "read-only") {
		t.Fatalf("mkdir in a mount: %+v", r)
	}
	if r := run(t, nil, "admin", "mount", "--data", dir, "--mode", "9", "file:///srv", "/other"); r.code == 0 {
		t.Fatalf("bad --mode accepted: %+v", r)
	}
	if r := run(t, nil, "admin", "mount", "unmount", "--data", dir, "/datasets/x"); r.code != 0 {
		t.Fatalf("unmount: %+v", r)
	}
	fsh(t, dir, "mkdir", "/datasets/x/d")
}

// TestDatasetsDocCoversMountFlags: docs/datasets.md shows every flag of
// shoal admin mount.
func TestDatasetsDocCoversMountFlags(t *testing.T) {
	doc, err := os.ReadFile("../../docs/datasets.md")
	if err != nil {
		t.Fatal(err)
	}
	mount, _, err := New().Find([]string{"admin", "mount"})
	if err != nil {
		t.Fatal(err)
	}
	mount.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" && !strings.Contains(string(doc), "--"+f.Name) {
			t.Errorf("docs/datasets.md does not document admin mount --%s", f.Name)
		}
	})
}
