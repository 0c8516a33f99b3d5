package s3_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/chromedp/chromedp"
	"github.com/minio/minio-go/v7"
	miniocred "github.com/minio/minio-go/v7/pkg/credentials"
)

// findChromium returns the browser to drive: $SHOAL_CHROMIUM, or one on
// PATH (Debian's package is `chromium`), else the test is skipped with
// the reason.
func findChromium(t *testing.T) string {
	if p := os.Getenv("SHOAL_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no browser: install Debian's chromium or set SHOAL_CHROMIUM; the S3 browser upload test is skipped")
	return ""
}

// Issue 15 items 3 and 7: a real Chromium submits HTML forms signed by a
// SigV4 POST policy to the gateway from a page served on another origin
// (another port), and that page's fetch() reaches a bucket with CORS
// configured for it and is blocked by the browser on one without.
func TestChromiumFormUploadAndCORS(t *testing.T) {
	chrome := findChromium(t)
	e, _ := newShoalEnv(t, false)
	ctx := context.Background()
	c := e.aws(t, testSK)
	for _, b := range []string{"web", "nocors"} {
		if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("greeting"),
			Body: strings.NewReader("hello " + b)}); err != nil {
			t.Fatal(err)
		}
	}

	// The page's server: its origin differs from the gateway's by port.
	var mu sync.Mutex
	pages := map[string]string{}
	var redirected url.Values
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/done" {
			redirected = r.URL.Query()
			fmt.Fprint(w, `<html><body><p id="done">uploaded</p></body></html>`)
			return
		}
		body, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, body)
	}))
	defer page.Close()
	origin := page.URL

	if _, err := c.PutBucketCors(ctx, &awss3.PutBucketCorsInput{Bucket: aws.String("web"), CORSConfiguration: &types.CORSConfiguration{
		CORSRules: []types.CORSRule{{AllowedMethods: []string{"GET", "PUT", "POST"}, AllowedOrigins: []string{origin},
			AllowedHeaders: []string{"*"}, ExposeHeaders: []string{"ETag"}}}}}); err != nil {
		t.Fatal(err)
	}

	mc, err := minio.New(strings.TrimPrefix(e.srv.URL, "http://"), &minio.Options{
		Creds: miniocred.NewStaticV4(testAK, testSK, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	form := func(success func(*minio.PostPolicy) error) string {
		p := minio.NewPostPolicy()
		p.SetBucket("web")
		p.SetKeyStartsWith("uploads/")
		p.SetExpires(time.Now().Add(5 * time.Minute))
		p.SetContentType("text/plain")
		p.SetContentLengthRange(1, 1<<20)
		if err := success(p); err != nil {
			t.Fatal(err)
		}
		u, fields, err := mc.PresignedPostPolicy(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		fields["key"] = "uploads/${filename}"
		names := make([]string, 0, len(fields))
		for k := range fields {
			names = append(names, k)
		}
		sort.Strings(names)
		var b strings.Builder
		fmt.Fprintf(&b, `<html><body><form id="f" method="post" enctype="multipart/form-data" action="%s">`, html.EscapeString(u.String()))
		for _, k := range names {
			fmt.Fprintf(&b, `<input type="hidden" name="%s" value="%s">`, html.EscapeString(k), html.EscapeString(fields[k]))
		}
		// The file input last: S3 ignores fields after it.
		b.WriteString(`<input type="file" id="file" name="file"><input type="submit" id="go" value="Upload"></form></body></html>`)
		return b.String()
	}
	mu.Lock()
	pages["/redirect"] = form(func(p *minio.PostPolicy) error { return p.SetSuccessActionRedirect(origin + "/done") })
	pages["/status"] = form(func(p *minio.PostPolicy) error { return p.SetSuccessStatusAction("201") })
	pages["/fetch"] = `<html><body><p id="ready">fetch page</p></body></html>`
	mu.Unlock()

	dir := t.TempDir()
	upload := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fileA := upload("a.txt", "from the browser, redirected\n")
	fileB := upload("b.txt", "from the browser, status 201\n")

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelB()
	bctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", chrome, err)
	}
	run := func(t *testing.T, step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			text, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("%s: %v\npage text: %s", step, err, text)
		}
	}
	object := func(t *testing.T, key string) (string, *awss3.GetObjectOutput) {
		t.Helper()
		out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("web"), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("GET %s after the browser's upload: %v", key, err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		return string(b), out
	}

	t.Run("form upload with redirect", func(t *testing.T) {
		run(t, "submit",
			chromedp.Navigate(origin+"/redirect"),
			chromedp.WaitVisible(chromedp.CSS("#go")),
			chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{fileA}),
			chromedp.Click(chromedp.CSS("#go")),
			chromedp.WaitVisible(chromedp.CSS("#done")),
		)
		body, out := object(t, "uploads/a.txt")
		if body != "from the browser, redirected\n" || aws.ToString(out.ContentType) != "text/plain" {
			t.Fatalf("object %q %+v", body, out)
		}
		mu.Lock()
		q := redirected
		mu.Unlock()
		if q.Get("bucket") != "web" || q.Get("key") != "uploads/a.txt" || q.Get("etag") != aws.ToString(out.ETag) {
			t.Fatalf("redirect query %v, object ETag %s", q, aws.ToString(out.ETag))
		}
	})

	t.Run("form upload with status 201", func(t *testing.T) {
		run(t, "submit",
			chromedp.Navigate(origin+"/status"),
			chromedp.WaitVisible(chromedp.CSS("#go")),
			chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{fileB}),
			chromedp.Click(chromedp.CSS("#go")),
		)
		// The browser shows the PostResponse document at the gateway's
		// URL once it has navigated there.
		var loc, text string
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			loc, _ = chromedp.Run(bctx, chromedp.Location())
			if strings.HasPrefix(loc, e.srv.URL) {
				text, _ = chromedp.Run(bctx, chromedp.Evaluate[string](`document.documentElement.textContent`))
				if strings.Contains(text, "uploads/b.txt") {
					break
				}
			}
		}
		if !strings.HasPrefix(loc, e.srv.URL) || !strings.Contains(text, "uploads/b.txt") {
			t.Fatalf("after the 201: location %q, document %q", loc, text)
		}
		if body, _ := object(t, "uploads/b.txt"); body != "from the browser, status 201\n" {
			t.Fatalf("object %q", body)
		}
	})

	t.Run("fetch and CORS", func(t *testing.T) {
		ps := awss3.NewPresignClient(c)
		presign := func(bucket string) string {
			req, err := ps.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("greeting")},
				awss3.WithPresignExpires(5*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			return req.URL
		}
		put, err := ps.PresignPutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("web"), Key: aws.String("from-fetch")},
			awss3.WithPresignExpires(5*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		run(t, "page", chromedp.Navigate(origin+"/fetch"), chromedp.WaitVisible(chromedp.CSS("#ready")))
		eval := func(js string) string {
			t.Helper()
			v, err := chromedp.Run(bctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatalf("evaluate %s: %v", js, err)
			}
			return v
		}
		get := func(u string) string {
			return eval(fmt.Sprintf(`fetch(%q).then(r => r.text().then(t => r.status + " " + t), e => "blocked: " + e)`, u))
		}
		if got := get(presign("web")); got != "200 hello web" {
			t.Fatalf("fetch from %s to a bucket with CORS for it: %q", origin, got)
		}
		if got := get(presign("nocors")); !strings.HasPrefix(got, "blocked: TypeError") {
			t.Fatalf("fetch from %s to a bucket without CORS: %q (want the browser to block it)", origin, got)
		}
		// A PUT with a Content-Type no simple request has: the browser
		// sends a preflight first, answered from the bucket's rule, and
		// reads the exposed ETag.
		got := eval(fmt.Sprintf(`fetch(%q, {method: "PUT", headers: {"Content-Type": "application/octet-stream"}, body: "put by fetch"})
			.then(r => r.status + " " + r.headers.get("ETag"), e => "blocked: " + e)`, put.URL))
		if got != `200 "`+md5hex([]byte("put by fetch"))+`"` {
			t.Fatalf("preflighted PUT from the browser: %q", got)
		}
		if body, _ := object(t, "from-fetch"); body != "put by fetch" {
			t.Fatalf("object put by fetch: %q", body)
		}
	})
}
