package cli

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// The deployment files under deploy/ and the commands in docs/deploy.md
// are not run by CI, so nothing else would notice a renamed or removed
// flag: every shoal command line in them must name a command and flags
// the CLI has, and a flag that takes a value must be given one.
func TestDeployFilesFlags(t *testing.T) {
	root := New()
	n := 0
	check := func(where string, args []string) {
		t.Helper()
		n++
		checkCommandLine(t, root, where, args)
	}

	units, err := filepath.Glob("../../deploy/systemd/*.service")
	if err != nil || len(units) < 3 {
		t.Fatalf("systemd units: %v %v", units, err)
	}
	for _, u := range units {
		execs := 0
		for _, line := range unitLines(t, u) {
			v, ok := strings.CutPrefix(line, "ExecStart=")
			if !ok {
				continue
			}
			execs++
			f := strings.Fields(v)
			if len(f) == 0 || filepath.Base(f[0]) != "shoal" {
				t.Errorf("%s: ExecStart does not run shoal: %q", u, v)
				continue
			}
			check(filepath.Base(u), f[1:])
		}
		if execs != 1 {
			t.Errorf("%s: %d ExecStart lines, want 1", u, execs)
		}
	}

	raw, err := os.ReadFile("../../deploy/compose/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image   string
			Command []string
		}
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	shoals := 0
	for name, s := range compose.Services {
		if !strings.HasPrefix(s.Image, "shoal:") {
			continue
		}
		shoals++
		check("compose.yaml service "+name, s.Command)
	}
	if shoals < 6 { // 2 meta, 3 workers, the gateway
		t.Errorf("compose.yaml: %d shoal services, want at least 6", shoals)
	}

	// Command lines in docs/deploy.md's shell blocks, continuations joined.
	doc, err := os.ReadFile("../../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	inSh, cont := false, ""
	for _, line := range strings.Split(string(doc), "\n") {
		switch {
		case strings.HasPrefix(line, "```sh"):
			inSh = true
			continue
		case strings.HasPrefix(line, "```"):
			inSh = false
			continue
		}
		if !inSh {
			continue
		}
		line = cont + strings.TrimSpace(line)
		if c, ok := strings.CutSuffix(line, `\`); ok {
			cont = c + " "
			continue
		}
		cont = ""
		line, _, _ = strings.Cut(line, " #")
		if f := shellFields(line); len(f) > 1 && f[0] == "shoal" {
			check("docs/deploy.md", f[1:])
		}
	}
	if n < 3+6+3 {
		t.Errorf("checked %d command lines, want every unit, compose service and some docs lines", n)
	}
}

// checkCommandLine checks that args (after "shoal") name a command and
// only flags it has, each value flag followed by a value.
func checkCommandLine(t *testing.T, root *cobra.Command, where string, args []string) {
	t.Helper()
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		t.Errorf("%s: no shoal command in %q", where, args)
		return
	}
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if !strings.HasPrefix(a, "--") {
			continue // a value, or an argument
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		f := cmd.Flag(name)
		if f == nil {
			t.Errorf("%s: shoal %s has no flag --%s", where, cmd.Name(), name)
			continue
		}
		if f.NoOptDefVal != "" || hasValue {
			continue // a boolean, or --flag=value
		}
		if i+1 >= len(rest) || strings.HasPrefix(rest[i+1], "--") {
			t.Errorf("%s: shoal %s --%s lacks its value", where, cmd.Name(), name)
			continue
		}
		i++
	}
}

// unitLines returns a systemd unit's lines with backslash continuations
// joined and comments dropped.
func unitLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	cont := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cont == "" && (strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";")) {
			continue
		}
		line = cont + line
		if c, ok := strings.CutSuffix(line, `\`); ok {
			cont = c + " "
			continue
		}
		cont = ""
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// shellFields splits a documented command line on blanks, keeping single-
// or double-quoted words whole (enough for the examples in the docs).
func shellFields(s string) []string {
	var out []string
	var cur strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '\'' || r == '"'):
			quote, in = r, true
		case quote == 0 && (r == ' ' || r == '\t'):
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}
