package s3_test

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
	miniocred "github.com/minio/minio-go/v7/pkg/credentials"
)

// Issue 15 item 3: CORS and POST Object, on both backends.
func TestBrowser(t *testing.T) {
	t.Run("mem", func(t *testing.T) { testBrowser(t, newEnv(t, false)) })
	t.Run("shoalfs", func(t *testing.T) {
		e, _ := newShoalEnv(t, false)
		testBrowser(t, e)
	})
}

func testBrowser(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.aws(t, testSK)
	bkt := aws.String("web")
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: bkt}); err != nil {
		t.Fatal(err)
	}
	preflight := func(origin, method, headers string) *http.Response {
		r, _ := http.NewRequest("OPTIONS", e.srv.URL+"/web/some/key", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", method)
		if headers != "" {
			r.Header.Set("Access-Control-Request-Headers", headers)
		}
		return do(t, e, r)
	}

	t.Run("cors", func(t *testing.T) {
		if resp := preflight("https://app.example", "GET", ""); resp.StatusCode != 403 || errorCode(t, resp) != "AccessForbidden" {
			t.Fatalf("preflight without CORS: %s", resp.Status)
		}
		_, err := c.PutBucketCors(ctx, &awss3.PutBucketCorsInput{Bucket: bkt, CORSConfiguration: &types.CORSConfiguration{
			CORSRules: []types.CORSRule{{AllowedMethods: []string{"PATCH"}, AllowedOrigins: []string{"*"}}}}})
		wantCode(t, err, "InvalidRequest")
		_, err = e.awsAs(t, otherAK, otherSK).PutBucketCors(ctx, &awss3.PutBucketCorsInput{Bucket: bkt, CORSConfiguration: &types.CORSConfiguration{
			CORSRules: []types.CORSRule{{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"*"}}}}})
		wantCode(t, err, "AccessDenied")
		rules := []types.CORSRule{
			{AllowedMethods: []string{"GET", "PUT", "POST"}, AllowedOrigins: []string{"https://*.example"},
				AllowedHeaders: []string{"x-amz-*", "content-type"}, ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: aws.Int32(600)},
			{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"*"}},
		}
		if _, err := c.PutBucketCors(ctx, &awss3.PutBucketCorsInput{Bucket: bkt, CORSConfiguration: &types.CORSConfiguration{CORSRules: rules}}); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetBucketCors(ctx, &awss3.GetBucketCorsInput{Bucket: bkt})
		if err != nil || len(got.CORSRules) != 2 || aws.ToInt32(got.CORSRules[0].MaxAgeSeconds) != 600 || got.CORSRules[0].AllowedOrigins[0] != "https://*.example" {
			t.Fatalf("GetBucketCors %+v %v", got, err)
		}
		resp := preflight("https://app.example", "PUT", "X-Amz-Meta-A, Content-Type")
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != 200 || h.Get("Access-Control-Allow-Origin") != "https://app.example" ||
			h.Get("Access-Control-Allow-Methods") != "GET, PUT, POST" || h.Get("Access-Control-Max-Age") != "600" ||
			h.Get("Access-Control-Allow-Headers") != "X-Amz-Meta-A, Content-Type" || h.Get("Access-Control-Expose-Headers") != "ETag" {
			t.Fatalf("preflight: %s %v", resp.Status, h)
		}
		if resp := preflight("https://app.example", "PUT", "authorization"); resp.StatusCode != 403 {
			t.Fatalf("preflight with a header no rule allows: %s", resp.Status)
		}
		if resp := preflight("https://other.org", "PUT", ""); resp.StatusCode != 403 {
			t.Fatalf("preflight from another origin for PUT: %s", resp.Status)
		}
		resp = preflight("https://other.org", "GET", "")
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("wildcard rule: %s %v", resp.Status, resp.Header)
		}
		r, _ := http.NewRequest("OPTIONS", e.srv.URL+"/web/k", nil)
		if code := errorCode(t, do(t, e, r)); code != "InvalidRequest" {
			t.Fatalf("preflight without Origin: %s", code)
		}
		// An actual request with an Origin gets the headers too.
		if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: bkt, Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
		req := signed(e, "GET", "/web/k", nil, "", time.Now(), testSK)
		req.Header.Set("Origin", "https://app.example")
		resp = do(t, e, req)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
			t.Fatalf("GET with Origin: %s %v", resp.Status, resp.Header)
		}
		if _, err := c.DeleteBucketCors(ctx, &awss3.DeleteBucketCorsInput{Bucket: bkt}); err != nil {
			t.Fatal(err)
		}
		_, err = c.GetBucketCors(ctx, &awss3.GetBucketCorsInput{Bucket: bkt})
		wantCode(t, err, "NoSuchCORSConfiguration")
		c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: bkt, Key: aws.String("k")})
	})

	t.Run("post object", func(t *testing.T) {
		mc, err := minio.New(strings.TrimPrefix(e.srv.URL, "http://"), &minio.Options{
			Creds: miniocred.NewStaticV4(testAK, testSK, ""), Transport: e.srv.Client().Transport,
			Region: "us-east-1", BucketLookup: minio.BucketLookupPath,
		})
		if err != nil {
			t.Fatal(err)
		}
		policy := func(maxLen int64) (string, map[string]string) {
			p := minio.NewPostPolicy()
			p.SetBucket("web")
			p.SetKeyStartsWith("uploads/")
			p.SetExpires(time.Now().Add(time.Minute))
			p.SetContentType("text/plain")
			p.SetContentLengthRange(1, maxLen)
			p.SetUserMetadata("color", "blue")
			p.SetSuccessStatusAction("201")
			u, form, err := mc.PresignedPostPolicy(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			return u.String(), form
		}
		post := func(u string, form map[string]string, key string, file []byte) *http.Response {
			var b bytes.Buffer
			w := multipart.NewWriter(&b)
			for k, v := range with(form, "key", key) {
				w.WriteField(k, v)
			}
			fw, _ := w.CreateFormFile("file", "hello.txt")
			fw.Write(file)
			w.WriteField("after", "ignored")
			w.Close()
			r, _ := http.NewRequest("POST", u, &b)
			r.Header.Set("Content-Type", w.FormDataContentType())
			return do(t, e, r)
		}
		u, form := policy(100)
		resp := post(u, form, "uploads/${filename}", []byte("hello form"))
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 || !strings.Contains(string(body), "<Key>uploads/hello.txt</Key>") {
			t.Fatalf("POST: %s %s", resp.Status, body)
		}
		got, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: bkt, Key: aws.String("uploads/hello.txt")})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(got.Body)
		got.Body.Close()
		if string(data) != "hello form" || aws.ToString(got.ContentType) != "text/plain" || got.Metadata["color"] != "blue" ||
			aws.ToString(got.ETag) != `"`+md5hex(data)+`"` {
			t.Fatalf("posted object %q %+v", data, got)
		}
		// Conditions: the key prefix, the size range, extra fields, a
		// tampered policy; none stores anything.
		for name, tc := range map[string]struct {
			form map[string]string
			key  string
			file []byte
			code string
		}{
			"key outside the prefix": {form, "other/x", []byte("x"), "AccessDenied"},
			"too large":              {form, "uploads/big", bytes.Repeat([]byte("x"), 101), "AccessDenied"},
			"too small":              {form, "uploads/empty", nil, "AccessDenied"},
			"extra field":            {with(form, "x-amz-meta-evil", "1"), "uploads/extra", []byte("x"), "AccessDenied"},
			"tampered policy":        {with(form, "policy", form["policy"]+"IA=="), "uploads/t", []byte("x"), "SignatureDoesNotMatch"},
			"no signature":           {without(form, "x-amz-signature"), "uploads/n", []byte("x"), "AuthorizationQueryParametersError"},
		} {
			resp := post(u, tc.form, tc.key, tc.file)
			if code := errorCode(t, resp); code != tc.code {
				t.Errorf("%s: got %s want %s", name, code, tc.code)
			}
		}
		out, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: bkt})
		if err != nil || len(out.Contents) != 1 {
			t.Fatalf("refused posts stored objects: %+v %v", out.Contents, err)
		}
		c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: bkt, Key: aws.String("uploads/hello.txt")})
	})
}

func with(m map[string]string, k, v string) map[string]string {
	n := map[string]string{k: v}
	for a, b := range m {
		if a != k {
			n[a] = b
		}
	}
	return n
}

func without(m map[string]string, k string) map[string]string {
	n := map[string]string{}
	for a, b := range m {
		if a != k {
			n[a] = b
		}
	}
	return n
}
