package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/progress"
	"github.com/shoalfs/shoal/internal/ring"
	"github.com/shoalfs/shoal/internal/rpc"
)

func newStatusCmd() *cobra.Command {
	var t target
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status --addr HOST:PORT[,HOST:PORT...] [--token TOKEN] [--json]",
		Short: "Show a server's version, engine and store, sessions, usage and worker leases (and each meta server named in --addr)",
		Args:  cobra.NoArgs,
	}
	targetFlags(cmd, &t, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := t.resolve(cmd); err != nil {
			return err
		}
		if !t.remote() {
			return &usageError{"status needs a server: --addr HOST:PORT (or SHOAL_ADDR)"}
		}
		r := newReporter(cmd)
		conn, err := dialAdmin(cmd.Context(), &t)
		if err != nil {
			r.fail(t.String(), err)
			return r.err()
		}
		defer conn.Close()
		self := conn.Session()
		st, err := conn.Admin().Status(cmd.Context())
		if err != nil {
			r.fail(t.String(), err)
			return r.err()
		}
		// A server without the Cluster service (an older one) has no
		// worker registry to show.
		members, err := conn.Cluster().Members(cmd.Context(), true)
		if err != nil && !fserr.Is(fserr.NotSupported, err) {
			r.fail(t.String(), err)
			return r.err()
		}
		metas := metaStatuses(cmd.Context(), &t, st)
		w := cmd.OutOrStdout()
		if asJSON {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			if err := enc.Encode(struct {
				rpc.Status
				Metas   []metaStatus
				Ring    ring.Params
				Workers []meta.Worker
			}{st, metas, members.Ring, members.Workers}); err != nil {
				r.fail("", err)
			}
			return r.err()
		}
		fmt.Fprintf(w, "server:  shoal %s, up %s (since %s)\n", st.Version, st.Uptime.Round(time.Second), st.Started.Local().Format(time.DateTime))
		fmt.Fprintf(w, "api:     %s\n", strings.Join(st.Listen, ", "))
		fmt.Fprintf(w, "blocks:  %s\n", strings.Join(st.BlockURLs, ", "))
		// An older server does not report its engine and store.
		if st.EngineURL != "" {
			fmt.Fprintf(w, "engine:  %s\n", st.EngineURL)
		}
		if st.StoreURL != "" {
			fmt.Fprintf(w, "store:   %s\n", st.StoreURL)
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		if len(metas) > 1 {
			fmt.Fprintln(tw, "META\tVERSION\tUP\tENGINE")
			for _, m := range metas {
				if m.Error != "" {
					fmt.Fprintf(tw, "%s\t-\t-\tunreachable: %s\n", m.Addr, m.Error)
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Addr, m.Version, m.Uptime.Round(time.Second), m.EngineURL)
			}
			tw.Flush()
			fmt.Fprintln(w)
		}
		fmt.Fprintln(tw, "FILESYSTEM\tID\tUSED\tINODES\tSESSIONS")
		nsess := 0
		for _, f := range st.FS {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\n", f.Name, f.ID, progress.Bytes(int64(f.Usage.UsedBytes)), f.Usage.UsedInodes, len(f.Sessions))
			nsess += len(f.Sessions)
		}
		tw.Flush()
		now := time.Now()
		if len(members.Workers) > 0 {
			fmt.Fprintf(w, "\nring:    %s, %d live workers\n", members.Ring, live(members.Workers, now))
			tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WORKER\tURL\tCAPACITY\tLAST HEARTBEAT\tLEASE")
			for _, wk := range members.Workers {
				lease := "expires in " + wk.Expires.Sub(now).Round(100*time.Millisecond).String()
				if !wk.Live(now) {
					lease = "expired " + now.Sub(wk.Expires).Round(time.Second).String() + " ago"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s ago\t%s\n", wk.ID, wk.URL, progress.Bytes(int64(wk.Capacity)),
					now.Sub(wk.Heartbeat).Round(100*time.Millisecond), lease)
			}
			tw.Flush()
		}
		if nsess == 0 {
			return r.err()
		}
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SESSION\tFS\tCLIENT\tHOST\tPID\tADDR\tOPEN\tSTARTED\tLAST HEARTBEAT")
		for _, f := range st.FS {
			for _, s := range f.Sessions {
				id := fmt.Sprint(s.ID)
				if s.ID == self {
					id += "*" // this command's own session
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s ago\n", id, f.Name, s.Client, s.Host, s.PID, s.Addr, s.Open,
					s.Started.Local().Format(time.DateTime), now.Sub(s.Heartbeat).Round(time.Second))
			}
		}
		tw.Flush()
		return r.err()
	}
	return cmd
}

// metaStatus is one meta server's answer to Status, or why it gave none.
type metaStatus struct {
	Addr      string
	Version   string        `json:",omitempty"`
	Uptime    time.Duration `json:",omitempty"`
	EngineURL string        `json:",omitempty"`
	Error     string        `json:",omitempty"`
}

// metaStatuses asks every address of t.addr for its status: meta servers
// hold no lease, so the addresses an operator names are the ones shown.
// With one address, first is its answer already.
func metaStatuses(ctx context.Context, t *target, first rpc.Status) []metaStatus {
	addrs := splitAddrs(t.addr)
	one := func(addr string, st rpc.Status) metaStatus {
		return metaStatus{Addr: addr, Version: st.Version, Uptime: st.Uptime, EngineURL: st.EngineURL}
	}
	if len(addrs) == 1 {
		return []metaStatus{one(addrs[0], first)}
	}
	out := make([]metaStatus, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Go(func() {
			// A dead meta fails at once (refused) or within the timeout;
			// it must not hold up the report of the others.
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			conn, err := rpc.Dial(ctx, []string{a}, rpc.ClientOptions{Token: t.token, FSName: t.fs, RetryTimeout: 3 * time.Second})
			if err != nil {
				out[i] = metaStatus{Addr: a, Error: err.Error()}
				return
			}
			defer conn.Close()
			st, err := conn.Admin().Status(ctx)
			if err != nil {
				out[i] = metaStatus{Addr: a, Error: err.Error()}
				return
			}
			out[i] = one(a, st)
		})
	}
	wg.Wait()
	return out
}

// live counts the workers whose lease holds at now.
func live(ws []meta.Worker, now time.Time) int {
	n := 0
	for _, w := range ws {
		if w.Live(now) {
			n++
		}
	}
	return n
}

// splitAddrs splits a comma-separated address list.
func splitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}
