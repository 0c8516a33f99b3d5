package cli

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	shoal "github.com/shoalfs/shoal"
)

// kvFlags are the flags every `shoal kv` command shares.
type kvFlags struct {
	t        target
	json     bool
	encoding string
	hash     string
	sort     string
}

// codec turns keys and values given on the command line into bytes and
// back, as --encoding says: utf8 (as typed), hex or base64.
type codec string

func (c codec) decode(what, s string) ([]byte, error) {
	switch c {
	case "hex":
		b, err := hex.DecodeString(s)
		if err != nil {
			return nil, &usageError{fmt.Sprintf("%s %q is not hex: %v", what, s, err)}
		}
		return b, nil
	case "base64":
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, &usageError{fmt.Sprintf("%s %q is not base64: %v", what, s, err)}
		}
		return b, nil
	}
	return []byte(s), nil
}

// text renders b for a line of text output: utf8 quotes it when it holds
// anything a terminal or a tab-separated reader would trip on.
func (c codec) text(b []byte) string {
	switch c {
	case "hex":
		return hex.EncodeToString(b)
	case "base64":
		return base64.StdEncoding.EncodeToString(b)
	}
	s := string(b)
	if needsQuote(s) {
		return strconv.Quote(s)
	}
	return s
}

// needsQuote reports whether s would be ambiguous as a field of a
// tab-separated line.
func needsQuote(s string) bool {
	if s == "" || s[0] == '"' || !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if r == '\t' || !strconv.IsPrint(r) {
			return true
		}
	}
	return false
}

// jsonField renders b for JSON output; with utf8, bytes that are not
// UTF-8 cannot be a JSON string without loss, so they are refused.
func (c codec) jsonField(b []byte) (string, error) {
	if c == "utf8" && !utf8.Valid(b) {
		return "", fmt.Errorf("%q is not UTF-8: use --encoding hex or base64", b)
	}
	if c == "utf8" {
		return string(b), nil
	}
	return c.text(b), nil
}

func (f *kvFlags) codec() (codec, error) {
	switch f.encoding {
	case "utf8", "hex", "base64":
		return codec(f.encoding), nil
	}
	return "", &usageError{fmt.Sprintf("--encoding %q: want utf8, hex or base64", f.encoding)}
}

func newKVCmd() *cobra.Command {
	f := &kvFlags{}
	cmd := &cobra.Command{
		Use:   "kv",
		Short: "KV tables: create, list, get, set, del, scan (the Pegasus model)",
		Long: "KV tables hold records (hash key, sort key) -> value with an optional TTL, next to the\n" +
			"filesystems, in the same engine (docs/kvtables.md). The commands work on a data\n" +
			"directory (--data) or a running server (--addr). Keys and values are given and\n" +
			"printed as typed (--encoding utf8), or as hex or base64. Text output quotes a key or\n" +
			"value that holds tabs, newlines or unprintable bytes; --json prints JSON (scan: one\n" +
			"object per line).",
		Example: "  shoal kv create feats --default-ttl 86400\n" +
			"  shoal kv set feats --hash user42 --sort clicks 17\n" +
			"  shoal kv get feats --hash user42 --sort clicks\n" +
			"  shoal kv scan feats --hash user42 --json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	targetFlags(cmd, &f.t, true)
	pf := cmd.PersistentFlags()
	pf.BoolVar(&f.json, "json", false, "print JSON")
	pf.StringVar(&f.encoding, "encoding", "utf8", "how keys and values are written in arguments and output: utf8, hex or base64")

	var defaultTTL int
	create := kvCmd(f, "create TABLE", "Create a table", 1, func(k *kvRun) error {
		info, err := k.c.CreateTable(k.args[0], shoal.TableOptions{DefaultTTL: defaultTTL})
		if err != nil {
			return err
		}
		return k.printTables([]shoal.TableInfo{info}, true)
	})
	create.Flags().IntVar(&defaultTTL, "default-ttl", 0, "TTL in seconds of records written without one (0: none)")

	drop := kvCmd(f, "drop TABLE", "Drop a table and its records", 1, func(k *kvRun) error {
		return k.c.DropTable(k.args[0])
	})
	list := kvCmd(f, "list", "List the tables", 0, func(k *kvRun) error {
		tables, err := k.c.ListTables()
		if err != nil {
			return err
		}
		return k.printTables(tables, false)
	})
	describe := kvCmd(f, "describe TABLE", "Show a table's settings", 1, func(k *kvRun) error {
		info, err := k.c.DescribeTable(k.args[0])
		if err != nil {
			return err
		}
		return k.printTables([]shoal.TableInfo{info}, true)
	})

	get := kvCmd(f, "get TABLE --hash H [--sort S]", "Print the value of a record", 1, func(k *kvRun) error {
		h, s, err := k.key()
		if err != nil {
			return err
		}
		v, ok, err := k.c.Table(k.args[0]).Get(h, s)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("no record (hash %s, sort %s)", k.enc.text(h), k.enc.text(s))
		}
		if k.f.json {
			return k.printRecord(h, s, v)
		}
		_, err = fmt.Fprintln(k.out, k.enc.text(v))
		return err
	})
	var ttl int
	set := kvCmd(f, "set TABLE --hash H [--sort S] VALUE", "Store a record (VALUE \"-\" reads standard input)", 2, func(k *kvRun) error {
		h, s, err := k.key()
		if err != nil {
			return err
		}
		var v []byte
		if k.args[1] == "-" {
			if v, err = io.ReadAll(k.cmd.InOrStdin()); err != nil {
				return err
			}
		} else if v, err = k.enc.decode("value", k.args[1]); err != nil {
			return err
		}
		return k.c.Table(k.args[0]).Set(h, s, v, ttl)
	})
	set.Flags().IntVar(&ttl, "ttl", 0, "TTL in seconds (0: the table's default)")
	del := kvCmd(f, "del TABLE --hash H [--sort S]", "Delete a record (a missing one is not an error)", 1, func(k *kvRun) error {
		h, s, err := k.key()
		if err != nil {
			return err
		}
		return k.c.Table(k.args[0]).Remove(h, s)
	})

	var sc struct {
		start, stop string
		limit       int
		noValue     bool
	}
	scan := kvCmd(f, "scan TABLE [--hash H [--start S] [--stop S]]", "Print records: one hash key's, or the whole table's", 1, func(k *kvRun) error {
		opts := shoal.DefaultScanOptions()
		opts.NoValue = sc.noValue
		tb := k.c.Table(k.args[0])
		var scs []*shoal.Scanner
		if k.cmd.Flags().Changed("hash") {
			h, err := k.enc.decode("hash key", k.f.hash)
			if err != nil {
				return err
			}
			start, err := k.enc.decode("start", sc.start)
			if err != nil {
				return err
			}
			stop, err := k.enc.decode("stop", sc.stop)
			if err != nil {
				return err
			}
			s, err := tb.GetScanner(h, start, stop, opts)
			if err != nil {
				return err
			}
			scs = append(scs, s)
		} else {
			if sc.start != "" || sc.stop != "" {
				return &usageError{"--start and --stop bound the sort keys of one hash key: give --hash"}
			}
			var err error
			if scs, err = tb.GetUnorderedScanners(1, opts); err != nil {
				return err
			}
		}
		n := 0
		for _, s := range scs {
			for sc.limit <= 0 || n < sc.limit {
				h, sk, v, ok, err := s.Next()
				if err != nil {
					return err
				}
				if !ok {
					break
				}
				if err := k.printRecord(h, sk, v); err != nil {
					return err
				}
				n++
			}
			s.Close()
		}
		return nil
	})
	scan.Flags().StringVar(&sc.start, "start", "", "first sort key (inclusive; with --hash)")
	scan.Flags().StringVar(&sc.stop, "stop", "", "sort key to stop before (exclusive; empty: to the end; with --hash)")
	scan.Flags().IntVar(&sc.limit, "limit", 0, "print at most this many records (0: all)")
	scan.Flags().BoolVar(&sc.noValue, "no-value", false, "print keys only")

	for _, c := range []*cobra.Command{get, set, del, scan} {
		c.Flags().StringVar(&f.hash, "hash", "", "hash key")
		c.Flags().StringVar(&f.sort, "sort", "", "sort key (default empty)")
	}
	for _, c := range []*cobra.Command{get, set, del} {
		if err := c.MarkFlagRequired("hash"); err != nil {
			panic(fmt.Sprintf("cli: kv: %v", err))
		}
	}
	cmd.AddCommand(create, drop, list, describe, get, set, del, scan)
	return cmd
}

// kvRun is one run of a kv command.
type kvRun struct {
	f    *kvFlags
	cmd  *cobra.Command
	args []string
	c    *shoal.Client
	enc  codec
	out  io.Writer
}

// kvCmd builds a kv subcommand: it opens the target, runs fn and reports
// its error as "shoal: <cmd>: TABLE: reason" with exit 1.
func kvCmd(f *kvFlags, use, short string, nargs int, fn func(k *kvRun) error) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.ExactArgs(nargs)}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := f.t.resolve(cmd); err != nil {
			return err
		}
		enc, err := f.codec()
		if err != nil {
			return err
		}
		r := newReporter(cmd)
		c, closeFn, err := f.t.open(cmd)
		if err != nil {
			r.fail(f.t.String(), err)
			return r.err()
		}
		defer closeFn()
		k := &kvRun{f: f, cmd: cmd, args: args, c: c, enc: enc, out: cmd.OutOrStdout()}
		if err := fn(k); err != nil {
			if ue, ok := err.(*usageError); ok {
				return ue
			}
			name := ""
			if len(args) > 0 {
				name = args[0]
			}
			r.fail(name, err)
		}
		return r.err()
	}
	return cmd
}

func (k *kvRun) key() (h, s []byte, err error) {
	if h, err = k.enc.decode("hash key", k.f.hash); err != nil {
		return nil, nil, err
	}
	s, err = k.enc.decode("sort key", k.f.sort)
	return h, s, err
}

type tableJSON struct {
	Name       string    `json:"name"`
	ID         uint32    `json:"id"`
	DefaultTTL int       `json:"default_ttl"`
	Created    time.Time `json:"created"`
}

func (k *kvRun) printTables(tables []shoal.TableInfo, one bool) error {
	if k.f.json {
		out := make([]tableJSON, len(tables))
		for i, t := range tables {
			out[i] = tableJSON{t.Name, t.ID, t.DefaultTTL, t.Created.UTC()}
		}
		e := json.NewEncoder(k.out)
		if one && len(out) == 1 {
			return e.Encode(out[0])
		}
		return e.Encode(out)
	}
	w := tabwriter.NewWriter(k.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tID\tDEFAULT_TTL\tCREATED")
	for _, t := range tables {
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\n", t.Name, t.ID, t.DefaultTTL, t.Created.UTC().Format(time.RFC3339))
	}
	return w.Flush()
}

// printRecord prints one record: "hash<TAB>sort<TAB>value", or a JSON
// object {"hash_key", "sort_key", "value"} on one line.
func (k *kvRun) printRecord(h, s, v []byte) error {
	if !k.f.json {
		line := k.enc.text(h) + "\t" + k.enc.text(s)
		if v != nil {
			line += "\t" + k.enc.text(v)
		}
		_, err := fmt.Fprintln(k.out, line)
		return err
	}
	rec := struct {
		HashKey string  `json:"hash_key"`
		SortKey string  `json:"sort_key"`
		Value   *string `json:"value,omitempty"`
	}{}
	var err error
	if rec.HashKey, err = k.enc.jsonField(h); err != nil {
		return err
	}
	if rec.SortKey, err = k.enc.jsonField(s); err != nil {
		return err
	}
	if v != nil {
		s, err := k.enc.jsonField(v)
		if err != nil {
			return err
		}
		rec.Value = &s
	}
	return json.NewEncoder(k.out).Encode(rec)
}
