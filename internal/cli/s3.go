package cli

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalfs/shoal"
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
		c, err := shoal.NewFromService(m, store, shoal.WithLogger(log))
		if err != nil {
			return nil, nil, err
		}
		h, closer, err := s3Gateway(ctx, c, cfg, ak, sk, log)
		if err != nil {
			c.Close()
		}
		return h, closer, err
	}
}

// s3Gateway serves S3 over c with the root key pair; the Closer closes c.
func s3Gateway(ctx context.Context, c *shoal.Client, cfg *server.S3Config, ak, sk string, log *slog.Logger) (http.Handler, io.Closer, error) {
	return shoalfs.NewGateway(ctx, c, s3.Config{
		Credentials: []s3.Credential{{AccessKey: ak, SecretKey: sk, Identity: s3.Identity{AccessKey: ak}}},
		BaseDomain:  cfg.Domain,
		Logger:      log,
	}, shoalfs.Options{UploadTTL: cfg.UploadTTL, Logger: log})
}
