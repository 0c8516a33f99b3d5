package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/storage"
)

// newAdminMigrateCmd builds `shoal admin migrate`: copy every
// filesystem's metadata (and the KV tables) from one engine into a new,
// empty one, with the servers stopped.
func newAdminMigrateCmd() *cobra.Command {
	var dir, from, to string
	cmd := &cobra.Command{
		Use:   "migrate [--data DIR | --from URL] --to URL",
		Short: "Copy the metadata of every filesystem to another engine (servers stopped)",
		Long: "Copy every key of the metadata engine (every filesystem, the registry, the KV tables)\n" +
			"into a new, empty engine, verify the copy (every key and value read back, compared by\n" +
			"digest) and check each filesystem's invariants on the destination. Blocks stay where they\n" +
			"are: restart the servers with --meta set to the destination and the same --store.\n" +
			"Stop every server using the source first: with --data the directory's lock is taken\n" +
			"(a running server makes this fail), an etcd or PostgreSQL source cannot be locked.",
		Example: "  shoal admin migrate --data /srv/shoal --to 'postgres://shoal@db:5432/shoal'\n" +
			"  shoal admin migrate --from 'etcd://10.0.0.1:2379/shoal' --to 'postgres://shoal@db/shoal?table=shoal_kv'",
		Args: cobra.NoArgs,
	}
	dataFlag(cmd, &dir, false)
	cmd.Flags().StringVar(&from, "from", "", "source engine URL (default: the Badger engine under --data)")
	cmd.Flags().StringVar(&to, "to", "", "destination engine URL: etcd://HOST:2379/PREFIX, postgres://USER@HOST/DB, badger:///DIR (must be empty)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if to == "" {
			return &usageError{"admin migrate needs --to URL, the engine to copy into"}
		}
		if from != "" && cmd.Flags().Changed("data") {
			return &usageError{"--data and --from exclude each other: --from names the source engine, --data the directory holding it"}
		}
		r := newReporter(cmd)
		ctx, w := cmd.Context(), cmd.OutOrStdout()
		cfg := storage.Config{Meta: from, NoBlocks: true}
		if from == "" {
			cfg.DataDir = dir
		}
		src, err := storage.Open(ctx, cfg)
		if err != nil {
			r.fail(dir, err)
			return r.err()
		}
		defer src.Close()
		dst, err := storage.OpenEngine(ctx, to, storage.EngineOptions{})
		if err != nil {
			r.fail("", err)
			return r.err()
		}
		defer dst.Close()
		if src.Engine.URL == dst.URL {
			return &usageError{"--to names the source engine itself"}
		}
		fmt.Fprintf(w, "copying %s -> %s\n", src.Engine.URL, dst.URL)
		st, err := storage.Copy(ctx, dst.KV, src.Engine.KV, nil)
		if fserr.Is(fserr.Exist, err) {
			r.failf(dst.URL, "the destination engine is not empty: migrate copies only into a new one (a fresh etcd prefix, a new PostgreSQL table or database); nothing was written")
			return r.err()
		}
		if err != nil {
			r.fail("", err)
			return r.err()
		}
		fmt.Fprintf(w, "copied %d keys, %d bytes; read back and verified (digest %x)\n", st.Keys, st.Bytes, st.Digest[:8])
		problems, err := checkAll(ctx, dst)
		if err != nil {
			r.fail("", err)
			return r.err()
		}
		for _, p := range problems {
			fmt.Fprintln(w, p)
		}
		if len(problems) > 0 {
			fmt.Fprintf(w, "migrate: the copy has %d problems (so has the source: it is an exact copy)\n", len(problems))
			return &exitError{ExitFail}
		}
		fmt.Fprintf(w, "migrate: done. Start the servers with --meta '%s' (and the same --store)\n", dst.URL)
		return nil
	}
	return cmd
}

// checkAll runs the metadata checks of every filesystem in e.
func checkAll(ctx context.Context, e *storage.Engine) ([]string, error) {
	infos, err := meta.ListFS(ctx, e.KV)
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, info := range infos {
		// Not exclusive and no cleaning: the check must change nothing
		// but its own session.
		fs, err := meta.New(ctx, e.KV, meta.Config{ID: info.ID})
		if err != nil {
			return nil, err
		}
		probs, err := fs.Check(ctx)
		if cerr := fs.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		for _, p := range probs {
			problems = append(problems, "fs "+info.Name+": "+p)
		}
	}
	return problems, nil
}
