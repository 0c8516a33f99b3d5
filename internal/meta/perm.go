package meta

import (
	"strings"

	"github.com/shoalfs/shoal/internal/fserr"
)

// permits reports whether id may access a with mask (AccessRead|Write|
// Exec), as Linux's generic_permission does: the owner class is chosen
// first, and root passes everything but executing a non-directory with
// no exec bit at all.
func permits(a *Attr, id *Identity, mask uint32) bool {
	mask &= 7
	if id.Uid == 0 {
		if mask&AccessExec != 0 && a.Type != TypeDir && a.Mode&0111 == 0 {
			return false
		}
		return true
	}
	var bits uint32
	switch {
	case id.Uid == a.Uid:
		bits = a.Mode >> 6 & 7
	case id.InGroup(a.Gid):
		bits = a.Mode >> 3 & 7
	default:
		bits = a.Mode & 7
	}
	return bits&mask == mask
}

// inodePermission is Linux's inode_permission: writing an immutable inode
// is EPERM before the mode bits are consulted.
func inodePermission(op string, a *Attr, id *Identity, mask uint32) error {
	if mask&AccessWrite != 0 && a.Flags&FlagImmutable != 0 {
		return fserr.E(op, inoPath(a.Ino), fserr.NotPermitted)
	}
	if !permits(a, id, mask) {
		return fserr.E(op, inoPath(a.Ino), fserr.Permission)
	}
	return nil
}

func ownerOrRoot(a *Attr, id *Identity) bool { return id.Uid == 0 || id.Uid == a.Uid }

// mayCreate checks that id may add an entry to directory dir.
func mayCreate(op string, dir *node, id *Identity) error {
	if dir.Flags&FlagMounted != 0 {
		return fserr.E(op, inoPath(dir.Ino), fserr.ReadOnly)
	}
	if dir.Nlink == 0 {
		return fserr.E(op, inoPath(dir.Ino), fserr.NotExist) // a removed directory
	}
	return inodePermission(op, &dir.Attr, id, AccessWrite|AccessExec)
}

// mayDelete is Linux's may_delete: may id remove (or rename away, or
// replace) victim from dir? isDir says whether the operation expects a
// directory.
func mayDelete(op string, dir *node, victim *node, id *Identity, isDir bool) error {
	if dir.Flags&FlagMounted != 0 {
		return fserr.E(op, inoPath(dir.Ino), fserr.ReadOnly)
	}
	if victim.Flags&FlagMounted != 0 {
		// The root of a dataset mount, in an ordinary directory: it
		// goes with `shoal admin mount unmount`, as a mount point does.
		return fserr.E(op, inoPath(victim.Ino), fserr.Busy)
	}
	if err := inodePermission(op, &dir.Attr, id, AccessWrite|AccessExec); err != nil {
		return err
	}
	if dir.Flags&FlagAppend != 0 {
		return fserr.E(op, inoPath(dir.Ino), fserr.NotPermitted)
	}
	if dir.Mode&ModeSticky != 0 && id.Uid != 0 && id.Uid != victim.Uid && id.Uid != dir.Uid {
		return fserr.E(op, inoPath(victim.Ino), fserr.NotPermitted)
	}
	if victim.Flags&(FlagAppend|FlagImmutable) != 0 {
		return fserr.E(op, inoPath(victim.Ino), fserr.NotPermitted)
	}
	if isDir && victim.Type != TypeDir {
		return fserr.E(op, inoPath(victim.Ino), fserr.NotDir)
	}
	if !isDir && victim.Type == TypeDir {
		return fserr.E(op, inoPath(victim.Ino), fserr.IsDir)
	}
	return nil
}

// checkNewName validates a name for an entry about to be created: "."
// and ".." exist already, '/' and NUL cannot be in a name.
func checkNewName(op, name string) error {
	switch {
	case name == "":
		return fserr.E(op, name, fserr.NotExist)
	case name == "." || name == "..":
		return fserr.E(op, name, fserr.Exist)
	}
	return checkName(op, name)
}

func checkName(op, name string) error {
	if strings.ContainsAny(name, "/\x00") {
		return fserr.E(op, name, fserr.Invalid)
	}
	return nil
}

func checkNameLen(op, name string) error {
	if len(name) > MaxName {
		return fserr.E(op, name, fserr.NameTooLong)
	}
	return nil
}
