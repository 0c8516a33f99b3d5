package console_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	shoal "github.com/shoalfs/shoal"
)

// findBrowser returns the Chromium to drive: $SHOAL_CHROMIUM, or one on
// PATH (Debian's package is `chromium`; `make test` installs it).
func findBrowser(t *testing.T) string {
	if p := os.Getenv("SHOAL_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no browser: install Debian's chromium (make test does when root) or set SHOAL_CHROMIUM; the console's browser test is skipped")
	return ""
}

// shotDir is where screenshots go: the test's temp dir, or
// $SHOAL_SCREENSHOTS to keep them.
func shotDir(t *testing.T) string {
	if d := os.Getenv("SHOAL_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestBrowser drives the console in a real Chromium: log in, see the
// overview and filesystems, browse, upload a file and read it back
// through the SDK, make a directory, stat a file, scan a KV table, list
// S3 buckets and the workers, watch a load job's progress until it
// succeeds, with a screenshot of each page.
func TestBrowser(t *testing.T) {
	chrome := findBrowser(t)
	srv := start(t, tokens())
	root := dial(t, srv, rootTok)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(root.Mkdir("alice", 0o755))
	must(root.Chown("alice", 1000, 1000))
	must(root.WriteFile("alice/notes.txt", []byte("<script>alert(1)</script> is text here"), 0o644))
	must(root.Chown("alice/notes.txt", 1000, 1000))
	must(root.Mkdir("photos", 0o755))
	_, err := root.CreateTable("users", shoal.TableOptions{})
	must(err)
	for _, k := range []string{"a", "b", "c", "d"} {
		must(root.Table("users").Set([]byte("u1"), []byte(k), []byte("value-"+k), 0))
	}

	shots := shotDir(t)
	upload := filepath.Join(t.TempDir(), "hello.txt")
	must(os.WriteFile(upload, []byte("hello from the browser\n"), 0o644))

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancelB := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelB()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()

	// Start the browser on ctx: a browser started by a step's shorter
	// context would die with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chrome, err)
	}
	base := "http://" + srv.WebAddr() + "/"
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			buf, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			p := filepath.Join(shots, name+".png")
			t.Logf("screenshot %s", p)
			return os.WriteFile(p, buf, 0o644)
		})
	}
	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			// What the page showed helps more than the timeout.
			page, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			chromedp.Do(ctx, shot("failed"))
			t.Fatalf("%s: %v\npage text: %s", step, err, page)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	poll := func(expr string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](expr)(ctx, tg)
			return err
		})
	}

	run("login page",
		chromedp.Navigate(base),
		chromedp.WaitVisible(chromedp.CSS("#page-login")),
		shot("01-login"),
		chromedp.SendKeys(chromedp.CSS("#token"), "not-a-token-at-all"),
		chromedp.Click(chromedp.CSS("#login-btn")),
		chromedp.WaitVisible(chromedp.CSS("#login-msg")),
	)
	run("wrong token message", poll(`document.getElementById("login-msg").textContent.includes("unknown token")`))
	run("log in",
		chromedp.Navigate(base),
		chromedp.WaitVisible(chromedp.CSS("#page-login")),
		chromedp.SendKeys(chromedp.CSS("#token"), aliceTok),
		chromedp.Click(chromedp.CSS("#login-btn")),
		chromedp.WaitVisible(chromedp.CSS("#page-overview table")),
		shot("02-overview"),
	)
	if who := text("#who"); !strings.Contains(who, "uid 1000") {
		t.Fatalf("header after login: %q", who)
	}
	if ov := text("#page-overview"); !strings.Contains(ov, "uptime") || !strings.Contains(ov, "badger") {
		t.Fatalf("overview: %q", ov)
	}

	run("filesystems",
		chromedp.Click(chromedp.CSS(`#nav a[data-page="filesystems"]`)),
		chromedp.WaitVisible(chromedp.CSS("#page-filesystems table")),
		shot("03-filesystems"),
	)
	if fs := text("#page-filesystems"); !strings.Contains(fs, "default") || !strings.Contains(fs, "Sessions on default") {
		t.Fatalf("filesystems: %q", fs)
	}

	run("browse",
		chromedp.Navigate(base+"#/browse?fs=default&path=alice"),
		chromedp.WaitVisible(chromedp.CSS(`#page-browse tr[data-name="notes.txt"]`)),
	)
	// A name or content that looks like markup stays text: no element was
	// made of it.
	scripts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("main script").length`))
	if err != nil {
		t.Fatal(err)
	}
	if scripts != 0 {
		t.Fatalf("%d script elements in the page", scripts)
	}
	run("upload",
		chromedp.SetUploadFiles(chromedp.CSS("#upload-file"), []string{upload}),
		chromedp.Click(chromedp.CSS("#upload-btn")),
		chromedp.WaitVisible(chromedp.CSS(`#page-browse tr[data-name="hello.txt"]`)),
	)
	got, err := root.ReadFile("alice/hello.txt")
	if err != nil || string(got) != "hello from the browser\n" {
		t.Fatalf("uploaded file read back through the SDK: %q, %v", got, err)
	}
	if fi, err := root.Stat("alice/hello.txt"); err != nil || fi.Sys().(*shoal.Attr).Uid != 1000 {
		t.Fatalf("uploaded file's owner: %v %v", fi, err)
	}
	run("mkdir",
		chromedp.SendKeys(chromedp.CSS("#mkdir-name"), "made-in-browser"),
		chromedp.Click(chromedp.CSS("#mkdir-btn")),
		chromedp.WaitVisible(chromedp.CSS(`#page-browse tr[data-name="made-in-browser"]`)),
	)
	if fi, err := root.Stat("alice/made-in-browser"); err != nil || !fi.IsDir() {
		t.Fatalf("directory made in the browser: %v %v", fi, err)
	}
	run("delete",
		// The page asks with confirm(); the test says yes.
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(window.confirm = () => true, true)`)(ctx, tg)
			return err
		}),
		chromedp.Click(chromedp.CSS(`#page-browse tr[data-name="made-in-browser"] button.danger`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#page-browse tr[data-name="made-in-browser"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#page-browse tr[data-name="hello.txt"]`)),
	)
	if _, err := root.Stat("alice/made-in-browser"); err == nil {
		t.Fatal("the directory deleted in the browser is still there")
	}
	run("stat",
		chromedp.Click(chromedp.CSS(`#page-browse tr[data-name="hello.txt"] a.entry`)),
		chromedp.WaitVisible(chromedp.CSS("#stat dl")),
		shot("04-browse"),
	)
	if st := text("#stat"); !strings.Contains(st, "23 bytes") {
		t.Fatalf("stat: %q", st)
	}
	// Permissions are the SDK's: alice cannot upload at the root (0755 root).
	run("upload refused",
		chromedp.Navigate(base+"#/browse?fs=default&path="),
		chromedp.WaitVisible(chromedp.CSS(`#page-browse tr[data-name="alice"]`)),
		chromedp.SetUploadFiles(chromedp.CSS("#upload-file"), []string{upload}),
		chromedp.Click(chromedp.CSS("#upload-btn")),
		chromedp.WaitVisible(chromedp.CSS("#error")),
	)
	if e := text("#error"); !strings.Contains(e, "permission denied") {
		t.Fatalf("upload at the root as alice: %q", e)
	}
	if _, err := root.Stat("hello.txt"); err == nil {
		t.Fatal("a refused upload left a file")
	}

	run("kv scan",
		chromedp.Navigate(base+"#/kv?table=users"),
		chromedp.WaitVisible(chromedp.CSS("#scan-btn")),
		chromedp.SendKeys(chromedp.CSS("#hash"), "u1"),
		chromedp.SendKeys(chromedp.CSS("#start"), "b"),
		chromedp.SendKeys(chromedp.CSS("#stop"), "d"),
		chromedp.Click(chromedp.CSS("#scan-btn")),
		chromedp.WaitVisible(chromedp.CSS(`#get-btn`)),
		poll(`document.getElementById("page-kv").textContent.includes("value-c")`),
		shot("05-kv"),
	)
	if kv := text("#page-kv"); !strings.Contains(kv, "value-b") || strings.Contains(kv, "value-a") || strings.Contains(kv, "value-d") {
		t.Fatalf("scan [b, d) of u1: %q", kv)
	}

	run("s3",
		chromedp.Click(chromedp.CSS(`#nav a[data-page="s3"]`)),
		chromedp.WaitVisible(chromedp.CSS("#page-s3 table")),
		shot("06-s3"),
	)
	if s := text("#page-s3"); !strings.Contains(s, "photos") {
		t.Fatalf("s3 buckets: %q", s)
	}
	run("workers",
		chromedp.Click(chromedp.CSS(`#nav a[data-page="workers"]`)),
		chromedp.WaitVisible(chromedp.CSS("#page-workers table")),
		shot("07-workers"),
	)
	if w := text("#page-workers"); !strings.Contains(w, "200 OK") {
		t.Fatalf("workers: %q", w)
	}
	// A paced load job (submitted by root: alice's token may not) moves
	// on the load jobs page until it succeeds.
	for i := range 8 {
		must(root.WriteFile(fmt.Sprintf("photos/p%d", i), bytes.Repeat([]byte{'p'}, 32<<10), 0o644))
	}
	job, err := root.SubmitLoad("photos", shoal.LoadOptions{Bandwidth: 96 << 10})
	must(err)
	run("load jobs",
		chromedp.Click(chromedp.CSS(`#nav a[data-page="loads"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#load-jobs tr.load-job[data-id="`+job.ID+`"]`)),
		shot("08-loads-running"),
		poll(`document.querySelector('#load-jobs tr.load-job[data-id="`+job.ID+`"]').dataset.state === "succeeded"`),
		shot("09-loads-done"),
	)
	if l := text("#load-jobs"); !strings.Contains(l, "8/8") || !strings.Contains(l, "/photos") {
		t.Fatalf("load jobs: %q", l)
	}
	run("log out",
		chromedp.Click(chromedp.CSS("#logout")),
		chromedp.WaitVisible(chromedp.CSS("#page-login")),
	)
}
