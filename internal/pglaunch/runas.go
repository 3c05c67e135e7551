package pglaunch

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// serverUserEnv names the environment variable that chooses the OS user the
// server runs as when the caller is root.
const serverUserEnv = "LAYERQ_PG_USER"

// osUser is the OS identity initdb and postgres run as.
type osUser struct {
	name   string
	uid    uint32
	gid    uint32
	groups []uint32
	// switchCred is set when the caller is root and children must drop to
	// uid/gid; otherwise they simply inherit the caller's identity.
	switchCred bool
}

// resolveServerUser picks the OS user for the server: the caller itself
// unless it is root, in which case override, $LAYERQ_PG_USER, "postgres" or
// "nobody", in that order.
func resolveServerUser(override string) (*osUser, error) {
	if os.Geteuid() != 0 {
		u := &osUser{uid: uint32(os.Geteuid()), gid: uint32(os.Getegid())}
		u.name = strconv.Itoa(os.Geteuid())
		if cur, err := user.Current(); err == nil {
			u.name = cur.Username
		}
		return u, nil
	}
	name := override
	if name == "" {
		name = os.Getenv(serverUserEnv)
	}
	if name == "" {
		name = "nobody"
		if _, err := user.Lookup("postgres"); err == nil {
			name = "postgres"
		}
	}
	lu, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("looking up server OS user %q (running as root; set %s to an unprivileged user): %w", name, serverUserEnv, err)
	}
	uid, err := strconv.ParseUint(lu.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("server OS user %q has non-numeric uid %q", name, lu.Uid)
	}
	gid, err := strconv.ParseUint(lu.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("server OS user %q has non-numeric gid %q", name, lu.Gid)
	}
	if uid == 0 {
		return nil, fmt.Errorf("server OS user %q is root, which PostgreSQL refuses; set %s to an unprivileged user", name, serverUserEnv)
	}
	u := &osUser{name: name, uid: uint32(uid), gid: uint32(gid), switchCred: true}
	if ids, err := lu.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil {
				u.groups = append(u.groups, uint32(g))
			}
		}
	}
	return u, nil
}

// String names the user for error messages.
func (u *osUser) String() string {
	return fmt.Sprintf("%s (uid %d)", u.name, u.uid)
}

// sysProcAttr returns process attributes that run a child as u.
func (u *osUser) sysProcAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{}
	if u.switchCred {
		attr.Credential = &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: u.groups}
	}
	return attr
}

// inGroup reports whether gid is u's primary or a supplementary group.
func (u *osUser) inGroup(gid uint32) bool {
	if gid == u.gid {
		return true
	}
	for _, g := range u.groups {
		if g == gid {
			return true
		}
	}
	return false
}

// canTraverse reports whether u may search (x permission) the directory fi.
func (u *osUser) canTraverse(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := fi.Mode().Perm()
	switch {
	case st.Uid == u.uid:
		return perm&0o100 != 0
	case u.inGroup(st.Gid):
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

// checkReachable returns an error naming the first existing parent directory
// of dir that u cannot traverse. dir itself is not checked: Start makes u its
// owner. Only meaningful when u differs from the caller.
func (u *osUser) checkReachable(dir string) error {
	if !u.switchCred {
		return nil
	}
	path := dir
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		path = real
	}
	for p := filepath.Dir(path); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err == nil && !u.canTraverse(fi) {
			owner := -1
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				owner = int(st.Uid)
			}
			return fmt.Errorf("cluster directory %s is not reachable by server OS user %s: %s (mode %v, owner uid %d) is not traversable by that user; choose a Dir that user can reach (for example under %s), or set %s",
				dir, u, p, fi.Mode().Perm(), owner, os.TempDir(), serverUserEnv)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// chownTree gives u ownership of root and everything below it except the
// directory skip (the data directory, which the server user creates itself).
func (u *osUser) chownTree(root, skip string) error {
	if !u.switchCred {
		return nil
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip && d.IsDir() {
			return filepath.SkipDir
		}
		if err := os.Lchown(p, int(u.uid), int(u.gid)); err != nil {
			return fmt.Errorf("chown %s to %s: %w", p, u, err)
		}
		return nil
	})
}
