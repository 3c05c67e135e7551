package pglaunch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// serverUserEnv names the environment variable that chooses the OS user the
// server runs as when the caller is root.
const serverUserEnv = "LAYERQ_PG_USER"

// dedicatedUser is the system user the server runs as, made if need be, when
// neither serverUserEnv nor an existing "postgres" user names one.
const dedicatedUser = "layerq"

// fallbackUser is the server user when no dedicated one exists or can be made.
const fallbackUser = "nobody"

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
// unless it is root. For root it is the owner of the existing data directory
// dataDir (unless that is root), so that every start on one cluster runs as
// the user who made it, whatever the environment says; else the user
// chooseServerUser names.
func resolveServerUser(ctx context.Context, override, dataDir string) (*osUser, error) {
	if os.Geteuid() != 0 {
		return currentUser(), nil
	}
	if u, ok := dataDirOwner(dataDir); ok {
		return u, nil
	}
	name := chooseServerUser(override, os.Getenv(serverUserEnv), userExists, func(name string) error {
		return createSystemUser(ctx, name)
	})
	return userByName(name)
}

// currentUser is the caller, as which the server runs when it is not root.
func currentUser() *osUser {
	u := &osUser{uid: uint32(os.Geteuid()), gid: uint32(os.Getegid())}
	u.name = strconv.Itoa(os.Geteuid())
	if cur, err := user.Current(); err == nil {
		u.name = cur.Username
	}
	return u
}

// dataDirOwner returns the owner of the existing data directory dataDir,
// unless that is root. For a root caller only.
func dataDirOwner(dataDir string) (*osUser, bool) {
	// Lstat: the last element is the server user's; it is not followed.
	fi, err := os.Lstat(dataDir)
	if err != nil || !fi.IsDir() {
		return nil, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil, false
	}
	return userByID(st.Uid, st.Gid), true
}

// chooseServerUser names the server user for a new cluster: override, else
// env ($LAYERQ_PG_USER), else "postgres" if that user exists, else the
// dedicated user "layerq" if it exists or create makes it, else "nobody".
// A dedicated user is better than nobody, whose files every other program
// running as nobody could reach.
func chooseServerUser(override, env string, exists func(name string) bool, create func(name string) error) string {
	switch {
	case override != "":
		return override
	case env != "":
		return env
	case exists("postgres"):
		return "postgres"
	case exists(dedicatedUser):
		return dedicatedUser
	}
	_ = create(dedicatedUser) // on failure a concurrent start may have made it
	if exists(dedicatedUser) {
		return dedicatedUser
	}
	return fallbackUser
}

// userExists reports whether the OS knows the user name.
func userExists(name string) bool {
	_, err := user.Lookup(name)
	return err == nil
}

// errNoUserTool means neither useradd nor adduser could be found.
var errNoUserTool = errors.New("neither useradd nor adduser found")

// sbinDirs are searched for useradd and adduser after PATH, which in a
// container does not always hold them.
var sbinDirs = []string{"/usr/sbin", "/sbin"}

// findProgram returns the path of the program name, on PATH or in sbinDirs.
func findProgram(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, dir := range sbinDirs {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// nologinShell returns a shell that refuses logins.
func nologinShell() string {
	for _, sh := range []string{"/usr/sbin/nologin", "/sbin/nologin"} {
		if _, err := os.Stat(sh); err == nil {
			return sh
		}
	}
	return "/bin/false"
}

// createSystemUser adds name as a system user with a group of its own, no
// home directory and no login shell, with useradd, else Debian's adduser.
func createSystemUser(ctx context.Context, name string) error {
	shell := nologinShell()
	var cmd *exec.Cmd
	if p, ok := findProgram("useradd"); ok {
		cmd = exec.CommandContext(ctx, p, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", shell, name)
	} else if p, ok := findProgram("adduser"); ok {
		cmd = exec.CommandContext(ctx, p, "--system", "--group", "--no-create-home", "--home", "/nonexistent", "--shell", shell, "--quiet", name)
	} else {
		return errNoUserTool
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("creating system user %s with %s: %w\n%s", name, cmd.Path, err, out)
	}
	return nil
}

// userByName looks the server user up by name.
func userByName(name string) (*osUser, error) {
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
	return &osUser{name: name, uid: uint32(uid), gid: uint32(gid), groups: groupIDs(lu), switchCred: true}, nil
}

// userByID is the owner of an existing data directory: uid, with the group
// and groups of its passwd entry, or with gid (the directory's group) if it
// has none.
func userByID(uid, gid uint32) *osUser {
	id := strconv.FormatUint(uint64(uid), 10)
	u := &osUser{name: "uid " + id, uid: uid, gid: gid, switchCred: true}
	lu, err := user.LookupId(id)
	if err != nil {
		return u
	}
	u.name = lu.Username
	if g, err := strconv.ParseUint(lu.Gid, 10, 32); err == nil {
		u.gid = uint32(g)
	}
	u.groups = groupIDs(lu)
	return u
}

// groupIDs returns the numeric groups lu belongs to.
func groupIDs(lu *user.User) []uint32 {
	ids, err := lu.GroupIds()
	if err != nil {
		return nil
	}
	var groups []uint32
	for _, id := range ids {
		if g, err := strconv.ParseUint(id, 10, 32); err == nil {
			groups = append(groups, uint32(g))
		}
	}
	return groups
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
			return fmt.Errorf("cluster directory %s is not reachable by server OS user %s: %s (mode %v, owner uid %d) is not traversable by that user; make it so (chmod o+x %s), choose a Dir that user can reach (for example under %s), or set %s",
				dir, u, p, fi.Mode().Perm(), owner, p, os.TempDir(), serverUserEnv)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// own gives u the open file or directory f, through its descriptor, so that
// no path is followed. A no-op unless the caller is root.
func (u *osUser) own(f *os.File) error {
	if !u.switchCred {
		return nil
	}
	if err := f.Chown(int(u.uid), int(u.gid)); err != nil {
		return fmt.Errorf("chown %s to %s: %w", f.Name(), u, err)
	}
	return nil
}
