package meta

import (
	"io"
	"log/slog"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
)

// Config configures an FS. The zero value is valid.
type Config struct {
	// Name names the filesystem; when set it must match the name recorded
	// when the filesystem was formatted.
	Name string
	// ID is the key prefix of this filesystem in the engine (default 1), so
	// one engine can hold several filesystems.
	ID uint32
	// Capacity is the byte capacity StatFS reports and writes are held to
	// (0: no quota: StatFS reports what Space says, or 1 PiB without it).
	Capacity uint64
	// Space, when set, returns the bytes still free in the block store
	// (the host filesystem under a data directory). Without a Capacity,
	// StatFS reports the used bytes plus that as the total, so df shows
	// the store's real room.
	Space func() (uint64, error)
	// MaxInodes bounds the number of inodes (0: unlimited).
	MaxInodes uint64
	// Logger receives Warn for repaired inconsistencies and Info for
	// sessions cleaned at start. Nil discards.
	Logger *slog.Logger
	// Clock gives the time stamped on inodes (nil: time.Now).
	Clock func() time.Time
	// IDBatch is how many inode or slice ids one process reserves per
	// counter transaction (default 1024).
	IDBatch uint64
	// CleanStaleSessions makes New treat every session record other than
	// its own as left by a dead process: their open inodes are released
	// and their slice id ranges swept. Set it for the embedded engine
	// used in-process (OpenLocal), not for a server, whose clients'
	// sessions outlive a restart.
	CleanStaleSessions bool
	// Exclusive declares this process the only user of the engine (the
	// embedded engine, or a server that owns it). Open handles are then
	// counted in memory only: Open, Create and Release write nothing, and
	// an inode's holders are persisted only when an unlink leaves it with
	// no links (see the package doc). New also cleans the built-in
	// sessions of earlier processes, which cannot be alive.
	Exclusive bool
	// CacheEntries bounds the lookup cache of exclusive mode (attributes,
	// dentries, chunk records and symlink targets served without an engine
	// transaction; see cache.go): default 262,144 keys, up to about 40 MiB.
	// Negative disables it. Without Exclusive there is no cache, since
	// other processes may write the engine.
	CacheEntries int
	// SessionTTL is how long a client session (NewSession) lives after its
	// last heartbeat when it asks for no TTL of its own (default 30s).
	SessionTTL time.Duration
	// MountLoader loads the entries of mounted directories from their
	// stores (internal/ufs); nil leaves mounted directories as they are
	// (empty until something loads them).
	MountLoader MountLoader
}

const (
	defaultIDBatch      = 1024
	unlimitedBytes      = 1 << 50
	unlimitedInodes     = 1 << 40
	usageRefreshEvery   = time.Second
	maxSymlinkFollows   = 40
	truncateBatch       = 1024
	reclaimChunksPerTxn = 256
	defaultSessionTTL   = 30 * time.Second
	cleanBatch          = 256
)

// EnsureDefaults fills unset fields with their defaults.
func (c *Config) EnsureDefaults() {
	if c.ID == 0 {
		c.ID = 1
	}
	if c.IDBatch == 0 {
		c.IDBatch = defaultIDBatch
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.CacheEntries == 0 {
		c.CacheEntries = defaultCacheEntries
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = defaultSessionTTL
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	if len(c.Name) > MaxName {
		return fserr.Errorf("meta.Config", fserr.Invalid, "meta: config: name longer than %d bytes", MaxName)
	}
	if c.IDBatch > 1<<20 {
		return fserr.Errorf("meta.Config", fserr.Invalid, "meta: config: IDBatch %d too large", c.IDBatch)
	}
	return nil
}
