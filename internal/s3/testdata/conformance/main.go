// Command s3conformance runs the S3 tests of versitygw's integration
// suite that its full-flow group runs, one by one (a panicking test
// counts as failed and the run goes on), against any endpoint, and
// prints each result and the totals.
package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/versity/versitygw/tests/integration"
)

func main() {
	src := flag.String("src", "", "versitygw's tests/integration/group-tests.go (the group lists)")
	endpoint := flag.String("endpoint", "", "S3 endpoint URL")
	ak := flag.String("access", "", "access key")
	sk := flag.String("secret", "", "secret key")
	only := flag.String("run", "", "regexp: run only the tests it matches")
	list := flag.Bool("list", false, "print the test names and stop")
	flag.Parse()
	raw, err := os.ReadFile(*src)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	names := fullFlow(string(raw))
	if *list {
		fmt.Println(strings.Join(names, "\n"))
		return
	}
	all := integration.GetIntTests()
	conf := integration.NewS3Conf(integration.WithAccess(*ak), integration.WithSecret(*sk),
		integration.WithRegion("us-east-1"), integration.WithEndpoint(*endpoint), integration.WithIAMEndpoint(*endpoint))
	var re *regexp.Regexp
	if *only != "" {
		re = regexp.MustCompile(*only)
	}
	pass, fail, missing := 0, 0, 0
	start := time.Now()
	for _, n := range names {
		if re != nil && !re.MatchString(n) {
			continue
		}
		f, ok := all[n]
		if !ok {
			missing++
			continue
		}
		err := run(f, conf)
		if err != nil {
			fail++
			fmt.Printf("FAIL %s: %s\n", n, strings.ReplaceAll(err.Error(), "\n", " "))
		} else {
			pass++
			fmt.Printf("PASS %s\n", n)
		}
	}
	fmt.Printf("%d passed, %d failed (%d not in the suite's table) in %s\n", pass, fail, missing, time.Since(start).Round(time.Second))
}

func run(f integration.IntTest, conf *integration.S3Conf) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f(conf)
}

// fullFlow lists the tests TestFullFlow runs: its groups' ts.Run(X)
// calls, in order, expanding nested groups, leaving out the groups that
// need versioning enabled from the start, the gateway's own IAM and
// server checks.
func fullFlow(src string) []string {
	groups := map[string][]string{}
	funcRe := regexp.MustCompile(`(?m)^func (Test\w+)\(ts \*TestState\) \{`)
	locs := funcRe.FindAllStringSubmatchIndex(src, -1)
	for i, l := range locs {
		end := len(src)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		body := src[l[1]:end]
		body = body[:strings.Index(body, "\n}\n")+1]
		var calls []string
		for _, m := range regexp.MustCompile(`ts\.Run\((\w+)\)|\b(Test\w+)\(ts\)`).FindAllStringSubmatch(body, -1) {
			if m[1] != "" {
				calls = append(calls, m[1])
			} else {
				calls = append(calls, "group:"+m[2])
			}
		}
		groups[src[l[2]:l[3]]] = calls
	}
	skip := map[string]bool{"TestVersioning": true, "TestGatewayIAM": true, "TestServer": true}
	seen := map[string]bool{}
	var out []string
	var expand func(g string)
	expand = func(g string) {
		for _, c := range groups[g] {
			if n, ok := strings.CutPrefix(c, "group:"); ok {
				if !skip[n] {
					expand(n)
				}
				continue
			}
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	expand("TestFullFlow")
	return out
}
