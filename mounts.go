package shoal

import (
	"path"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// MountOptions configure a dataset mount (docs/datasets.md). The zero
// value mounts read-only with the default sync interval, files owned by
// root with mode 0444.
type MountOptions struct {
	// Endpoint is the S3 server's base URL ("" is AWS); Region signs
	// requests; PathStyle forces path-style addressing.
	Endpoint, Region string
	PathStyle        bool
	// CredentialsFile is an AWS shared credentials file, read by every
	// process that opens the store ("": the environment's AWS_* keys).
	// The mount record keeps the path, never a secret.
	CredentialsFile string
	// SyncInterval is how long loaded metadata is trusted before an
	// access revalidates it (0: one minute).
	SyncInterval time.Duration
	// WriteThrough makes the mount writable (files are PUT whole to the
	// store when closed); without it every change is EROFS.
	WriteThrough bool
	// Uid, Gid and Mode are the owner and permission bits of the files
	// (Mode 0: 0444, or 0644 with WriteThrough).
	Uid, Gid uint32
	Mode     uint32
}

// MountInfo describes a dataset mount. It carries no secret.
type MountInfo struct {
	// Path is the mount's directory when it was mounted; URL the store
	// (s3://bucket/prefix or file:///dir).
	Path, URL string
	MountOptions
	// Created is when the mount was made.
	Created time.Time
}

// Mount attaches the object store url (s3://bucket/prefix or
// file:///dir) at name: the directory is created if missing; an existing
// one must be empty (ENOTEMPTY; a file: EEXIST), and mounts do not nest
// (EBUSY). It needs a client acting as root (a super token).
func (c *Client) Mount(url, name string, o MountOptions) (MountInfo, error) {
	const op = "mount"
	ma, p, err := c.mountAdmin(op, name)
	if err != nil {
		return MountInfo{}, err
	}
	m, err := ma.Mount(c.ctx, c.core.id, meta.Mount{Path: p, URL: url, Endpoint: o.Endpoint, Region: o.Region,
		PathStyle: o.PathStyle, CredentialsFile: o.CredentialsFile, SyncInterval: o.SyncInterval,
		WriteThrough: o.WriteThrough, Uid: o.Uid, Gid: o.Gid, Mode: o.Mode})
	if err != nil {
		return MountInfo{}, wrap(op, name, err)
	}
	return mountInfo(m), nil
}

// Unmount detaches the mount at name, leaving an empty directory.
func (c *Client) Unmount(name string) (MountInfo, error) {
	const op = "unmount"
	ma, p, err := c.mountAdmin(op, name)
	if err != nil {
		return MountInfo{}, err
	}
	m, err := ma.Unmount(c.ctx, c.core.id, p)
	if err != nil {
		return MountInfo{}, wrap(op, name, err)
	}
	return mountInfo(m), nil
}

// Mounts lists the dataset mounts.
func (c *Client) Mounts() ([]MountInfo, error) {
	const op = "mounts"
	ma, _, err := c.mountAdmin(op, "/")
	if err != nil {
		return nil, err
	}
	l, err := ma.Mounts(c.ctx)
	if err != nil {
		return nil, wrap(op, "", err)
	}
	out := make([]MountInfo, len(l))
	for i, m := range l {
		out[i] = mountInfo(m)
	}
	return out, nil
}

func (c *Client) mountAdmin(op, name string) (meta.MountAdmin, string, error) {
	if err := c.check(op, name); err != nil {
		return nil, "", err
	}
	ma, ok := c.core.meta.(meta.MountAdmin)
	if !ok {
		return nil, "", fserr.Errorf(op, fserr.NotSupported, "shoal: %s: this client's backend does not manage dataset mounts", op)
	}
	n, err := c.cleanName(op, name)
	if err != nil {
		return nil, "", err
	}
	return ma, path.Clean(metaPath(n)), nil
}

func mountInfo(m meta.Mount) MountInfo {
	return MountInfo{Path: m.Path, URL: m.URL, Created: time.Unix(0, m.Created), MountOptions: MountOptions{
		Endpoint: m.Endpoint, Region: m.Region, PathStyle: m.PathStyle, CredentialsFile: m.CredentialsFile,
		SyncInterval: m.SyncInterval, WriteThrough: m.WriteThrough, Uid: m.Uid, Gid: m.Gid, Mode: m.Mode}}
}
