package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// The README documents every flag of fsck (its --addr went undocumented
// once) and docs/s3.md says which clients sign with SigV2 by default.
func TestDocsCoverCommands(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	root := New()
	fsck, _, err := root.Find([]string{"fsck"})
	if err != nil {
		t.Fatal(err)
	}
	// The paragraph on fsck: from its first mention to the blank line.
	_, para, _ := strings.Cut(string(readme), "`shoal fsck")
	para, _, _ = strings.Cut(para, "\n\n")
	fsck.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" && !strings.Contains(para, "--"+f.Name) {
			t.Errorf("README.md does not document fsck --%s", f.Name)
		}
	})
	first, _, _ := strings.Cut(string(readme), "\n\n## ")
	if strings.Contains(first, "as the next issues land") {
		t.Error("README.md's opening still lists built surfaces as coming")
	}
	s3doc, err := os.ReadFile("../../docs/s3.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"generate_presigned_url", "aws s3 presign", "signature_v2 = True"} {
		if !strings.Contains(string(s3doc), want) {
			t.Errorf("docs/s3.md does not say that %s signs with SigV2", want)
		}
	}
}
