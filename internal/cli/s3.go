package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/data"
	"github.com/shoalfs/shoal/internal/inproc"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/s3"
	"github.com/shoalfs/shoal/internal/s3/shoalfs"
	"github.com/shoalfs/shoal/internal/server"
)

// s3Flags registers the S3 gateway's flags (shoal server, shoal gateway).
func s3Flags(cmd *cobra.Command, c *server.S3Config) {
	f := cmd.Flags()
	f.StringVar(&c.Listen, "s3-listen", server.DefaultS3Listen, "S3 API address (HOST:PORT; \"\" disables S3)")
	f.StringVar(&c.AccessKey, "s3-access-key", "", "root S3 access key (env SHOAL_S3_ACCESS_KEY; default: generated, kept under --data)")
	f.StringVar(&c.SecretKey, "s3-secret-key", "", "root S3 secret key (env SHOAL_S3_SECRET_KEY)")
	f.StringVar(&c.Domain, "s3-domain", "", "base domain for virtual-hosted-style requests (BUCKET.DOMAIN)")
	f.DurationVar(&c.UploadTTL, "s3-upload-ttl", 7*24*time.Hour, "abandoned multipart uploads are removed after this long")
	f.StringVar(&c.KeysFile, "s3-keys", "", "more S3 key pairs, one per line: ACCESS SECRET UID GID[,GID...] (POSIX permissions apply to their requests)")
}

// S3KeysFormat describes an --s3-keys file.
const S3KeysFormat = "one key pair per line: ACCESS_KEY SECRET_KEY UID GID[,GID...]; # starts a comment"

// parseS3Keys reads an --s3-keys file: each pair acts as the Shoal
// identity on its line (the first GID is the primary group).
func parseS3Keys(r io.Reader) ([]s3.Credential, error) {
	var creds []s3.Credential
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func(why string) error { return fmt.Errorf("s3 keys line %d: %s (%s)", n, why, S3KeysFormat) }
		if len(f) != 4 {
			return nil, bad("want 4 fields")
		}
		if len(f[0]) < 3 || len(f[1]) < 8 {
			return nil, bad("access key under 3 or secret key under 8 characters")
		}
		if seen[f[0]] {
			return nil, bad("access key " + f[0] + " given twice")
		}
		seen[f[0]] = true
		uid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			return nil, bad("bad uid " + f[2])
		}
		id := s3.Identity{AccessKey: f[0], Uid: uint32(uid)}
		for i, g := range strings.Split(f[3], ",") {
			gid, err := strconv.ParseUint(g, 10, 32)
			if err != nil {
				return nil, bad("bad gid " + g)
			}
			if i == 0 {
				id.Gid = uint32(gid)
			} else {
				id.Gids = append(id.Gids, uint32(gid))
			}
		}
		creds = append(creds, s3.Credential{AccessKey: f[0], SecretKey: f[1], Identity: id})
	}
	return creds, sc.Err()
}

// s3FromEnv fills the root key pair from the environment unless flags set
// it. The default address gives way (a warning) when already taken, so
// several servers run side by side; an address asked for must work.
func s3FromEnv(cmd *cobra.Command, c *server.S3Config) {
	c.Optional = !cmd.Flags().Changed("s3-listen")
	if !cmd.Flags().Changed("s3-access-key") && c.AccessKey == "" {
		c.AccessKey = os.Getenv("SHOAL_S3_ACCESS_KEY")
	}
	if !cmd.Flags().Changed("s3-secret-key") && c.SecretKey == "" {
		c.SecretKey = os.Getenv("SHOAL_S3_SECRET_KEY")
	}
}

// s3Handler is server.S3Config.Handler: the gateway over the server's
// own filesystem, in-process.
func s3Handler(cfg *server.S3Config, log *slog.Logger) server.S3Handler {
	return func(ctx context.Context, m meta.Service, store objstore.Store, ak, sk string) (http.Handler, io.Closer, error) {
		c, err := inproc.NewClient[*shoal.Client](m, store, inproc.Options{Logger: log})
		if err != nil {
			return nil, nil, err
		}
		h, closer, err := s3Gateway(ctx, c, cfg, ak, sk, log)
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		return h, statsCloser{closer, c}, nil
	}
}

// statsCloser lets the server read the gateway client's data counters
// (its block cache) for /metrics.
type statsCloser struct {
	io.Closer
	c *shoal.Client
}

func (s statsCloser) DataStats() data.Stats { return inproc.DataStats(s.c) }

// s3Gateway serves S3 over c with the root key pair; the Closer closes c.
func s3Gateway(ctx context.Context, c *shoal.Client, cfg *server.S3Config, ak, sk string, log *slog.Logger) (http.Handler, io.Closer, error) {
	creds := []s3.Credential{{AccessKey: ak, SecretKey: sk, Identity: s3.Identity{AccessKey: ak}}}
	if cfg.KeysFile != "" {
		f, err := os.Open(cfg.KeysFile)
		if err != nil {
			return nil, nil, err
		}
		more, err := parseS3Keys(f)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", cfg.KeysFile, err)
		}
		for _, k := range more {
			if k.AccessKey == ak {
				return nil, nil, fmt.Errorf("%s: access key %s is the root key's", cfg.KeysFile, ak)
			}
		}
		creds = append(creds, more...)
	}
	return shoalfs.NewGateway(ctx, c, s3.Config{
		Credentials: creds,
		BaseDomain:  cfg.Domain,
		Logger:      log,
	}, shoalfs.Options{UploadTTL: cfg.UploadTTL, Logger: log})
}
