package bench

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/inproc"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/s3"
	"github.com/shoalfs/shoal/internal/s3/shoalfs"
)

// testS3Handler is the gateway `shoal server` builds (internal/cli), over
// the in-process server's filesystem.
func testS3Handler(ctx context.Context, m meta.Service, store objstore.Store, ak, sk string) (http.Handler, io.Closer, error) {
	c, err := inproc.NewClient[*shoal.Client](m, store, inproc.Options{})
	if err != nil {
		return nil, nil, err
	}
	h, closer, err := shoalfs.NewGateway(ctx, c, s3.Config{
		Credentials: []s3.Credential{{AccessKey: ak, SecretKey: sk, Identity: s3.Identity{AccessKey: ak}}},
	}, shoalfs.Options{})
	if err != nil {
		c.Close()
	}
	return h, closer, err
}

func TestRunS3Small(t *testing.T) {
	rep, err := RunS3(t.Context(), S3Options{
		Dir: t.TempDir(), Handler: testS3Handler, Clients: 4, SmallOps: 50, LargeOps: 4,
		BigSize: 12 << 20, PartSize: 5 << 20, ListKeys: 120, PageSize: 50, Runs: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != len(s3Metrics) {
		t.Fatalf("%d results, want %d", len(rep.Results), len(s3Metrics))
	}
	for _, r := range rep.Results {
		if r.Median <= 0 || len(r.Runs) != 1 {
			t.Errorf("%s: %v", r.Metric, r)
		}
	}
	if err := rep.WriteText(io.Discard); err != nil {
		t.Fatal(err)
	}
}

func TestS3OptionsValidate(t *testing.T) {
	for _, o := range []S3Options{
		{},                               // neither endpoint nor handler
		{Endpoint: "http://127.0.0.1:1"}, // no keys
		{Handler: testS3Handler, PartSize: 1 << 20},
		{Handler: testS3Handler, Workloads: []string{"nope"}},
	} {
		o.EnsureDefaults()
		if o.Validate() == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}
