package rpc

import (
	"strconv"
	"strings"
	"time"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/meta"
)

// gRPC metadata keys (lower case, as gRPC requires).
const (
	mdFS      = "shoal-fs"
	mdSession = "shoal-session"
	mdRequest = "shoal-request"
	mdUID     = "shoal-uid"
	mdGID     = "shoal-gid"
	mdGIDs    = "shoal-gids"
	mdAuth    = "authorization"
	// mdGrant carries block grants in response headers, mdGrantRenew
	// the grants a Heartbeat asks to renew (server_grants.go).
	mdGrant      = "shoal-grant"
	mdGrantRenew = "shoal-grant-renew"
)

// DefaultFS is the filesystem a call without shoal-fs addresses.
const DefaultFS = "default"

// maxMsg bounds one message either way: a ReadDir batch with attributes
// or a long slice list must fit.
const maxMsg = 64 << 20

// maxReadDir caps the entries of one ReadDir reply so it stays far below
// maxMsg; callers loop until an empty batch anyway.
const maxReadDir = 65536

func attrToPB(a *meta.Attr) *pb.Attr {
	return &pb.Attr{Ino: uint64(a.Ino), Type: uint32(a.Type), Mode: a.Mode, Uid: a.Uid, Gid: a.Gid,
		Size: a.Size, Nlink: a.Nlink, Atime: a.Atime, Mtime: a.Mtime, Ctime: a.Ctime,
		Flags: a.Flags, Rdev: a.Rdev, Parent: uint64(a.Parent)}
}

func attrFromPB(a *pb.Attr) meta.Attr {
	if a == nil {
		return meta.Attr{}
	}
	return meta.Attr{Ino: meta.Ino(a.Ino), Type: meta.Type(a.Type), Mode: a.Mode, Uid: a.Uid, Gid: a.Gid,
		Size: a.Size, Nlink: a.Nlink, Atime: a.Atime, Mtime: a.Mtime, Ctime: a.Ctime,
		Flags: a.Flags, Rdev: a.Rdev, Parent: meta.Ino(a.Parent)}
}

func sliceToPB(s meta.Slice) *pb.Slice {
	return &pb.Slice{Id: s.ID, Size: s.Size, Off: s.Off, Len: s.Len, Pos: s.Pos}
}

func sliceFromPB(s *pb.Slice) meta.Slice {
	if s == nil {
		return meta.Slice{}
	}
	return meta.Slice{ID: s.Id, Size: s.Size, Off: s.Off, Len: s.Len, Pos: s.Pos}
}

func slicesToPB(ss []meta.Slice) []*pb.Slice {
	out := make([]*pb.Slice, len(ss))
	for i, s := range ss {
		out[i] = sliceToPB(s)
	}
	return out
}

func slicesFromPB(ss []*pb.Slice) []meta.Slice {
	if len(ss) == 0 {
		return nil
	}
	out := make([]meta.Slice, len(ss))
	for i, s := range ss {
		out[i] = sliceFromPB(s)
	}
	return out
}

func rangesToPB(rs [][2]uint64) []*pb.Range {
	out := make([]*pb.Range, len(rs))
	for i, r := range rs {
		out[i] = &pb.Range{Lo: r[0], Hi: r[1]}
	}
	return out
}

func rangesFromPB(rs []*pb.Range) [][2]uint64 {
	if len(rs) == 0 {
		return nil
	}
	out := make([][2]uint64, len(rs))
	for i, r := range rs {
		out[i] = [2]uint64{r.Lo, r.Hi}
	}
	return out
}

func statFSToPB(s meta.StatFS) *pb.StatFS {
	return &pb.StatFS{TotalBytes: s.TotalBytes, UsedBytes: s.UsedBytes, TotalInodes: s.TotalInodes, UsedInodes: s.UsedInodes}
}

func statFSFromPB(s *pb.StatFS) meta.StatFS {
	if s == nil {
		return meta.StatFS{}
	}
	return meta.StatFS{TotalBytes: s.TotalBytes, UsedBytes: s.UsedBytes, TotalInodes: s.TotalInodes, UsedInodes: s.UsedInodes}
}

// unixNano keeps the zero time as 0 on the wire, and back.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func sessionInfoToPB(s meta.SessionInfo) *pb.SessionInfo {
	return &pb.SessionInfo{Id: s.ID, Host: s.Host, Pid: int64(s.PID), Client: s.Client, Addr: s.Addr,
		Started: unixNano(s.Started), Heartbeat: unixNano(s.Heartbeat), Expires: unixNano(s.Expires), Open: int64(s.Open)}
}

func sessionInfoFromPB(s *pb.SessionInfo) meta.SessionInfo {
	return meta.SessionInfo{ID: s.Id, Host: s.Host, PID: int(s.Pid), Client: s.Client, Addr: s.Addr,
		Started: fromNano(s.Started), Heartbeat: fromNano(s.Heartbeat), Expires: fromNano(s.Expires), Open: int(s.Open)}
}

func fsInfoToPB(f meta.FSInfo) *pb.FSInfo {
	return &pb.FSInfo{Name: f.Name, Id: f.ID, Created: unixNano(f.Created)}
}

func fsInfoFromPB(f *pb.FSInfo) meta.FSInfo {
	if f == nil {
		return meta.FSInfo{}
	}
	return meta.FSInfo{Name: f.Name, ID: f.Id, Created: fromNano(f.Created)}
}

func formatGids(gids []uint32) string {
	var b strings.Builder
	for i, g := range gids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(g), 10))
	}
	return b.String()
}

func parseGids(s string) ([]uint32, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	out := make([]uint32, 0, len(parts))
	for _, p := range parts {
		g, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, err
		}
		out = append(out, uint32(g))
	}
	return out, nil
}
