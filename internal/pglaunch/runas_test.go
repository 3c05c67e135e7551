package pglaunch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestChooseServerUser(t *testing.T) {
	errFailed := errors.New("useradd failed")
	cases := []struct {
		name           string
		override, env  string
		existing       []string
		createErr      error
		createdAnyway  bool // a concurrent start made the user although create failed
		want           string
		wantCreateCall bool
	}{
		{name: "override", override: "alice", env: "bob", existing: []string{"postgres", "layerq"}, want: "alice"},
		{name: "environment", env: "bob", existing: []string{"postgres", "layerq"}, want: "bob"},
		{name: "postgres", existing: []string{"postgres", "layerq", "nobody"}, want: "postgres"},
		{name: "existing layerq", existing: []string{"layerq", "nobody"}, want: "layerq"},
		{name: "layerq made", existing: []string{"nobody"}, want: "layerq", wantCreateCall: true},
		{name: "layerq cannot be made", existing: []string{"nobody"}, createErr: errFailed, want: "nobody", wantCreateCall: true},
		{name: "layerq made meanwhile", existing: []string{"nobody"}, createErr: errFailed, createdAnyway: true, want: "layerq", wantCreateCall: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			users := slices.Clone(tc.existing)
			var created []string
			exists := func(name string) bool { return slices.Contains(users, name) }
			create := func(name string) error {
				created = append(created, name)
				if tc.createErr == nil || tc.createdAnyway {
					users = append(users, name)
				}
				return tc.createErr
			}
			if got := chooseServerUser(tc.override, tc.env, exists, create); got != tc.want {
				t.Errorf("chooseServerUser = %q, want %q", got, tc.want)
			}
			wantCreated := []string(nil)
			if tc.wantCreateCall {
				wantCreated = []string{"layerq"}
			}
			if !slices.Equal(created, wantCreated) {
				t.Errorf("created %q, want %q", created, wantCreated)
			}
		})
	}
}

// createSystemUser makes a system user with its own group, no home and no
// login shell. It runs the real useradd (or adduser) on a name of its own,
// and removes the user again.
func TestCreateSystemUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root adds users")
	}
	name := fmt.Sprintf("lqtest%d", os.Getpid()%1000000)
	if _, err := user.Lookup(name); err == nil {
		t.Fatalf("user %s exists already", name)
	}
	_, haveUseradd := findProgram("useradd")
	_, haveAdduser := findProgram("adduser")
	err := createSystemUser(context.Background(), name)
	if !haveUseradd && !haveAdduser {
		if !errors.Is(err, errNoUserTool) {
			t.Fatalf("without useradd and adduser: err = %v, want errNoUserTool", err)
		}
		return
	}
	t.Cleanup(func() { removeUser(t, name) })
	if err != nil {
		t.Fatal(err)
	}
	u, err := userByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if u.uid == 0 || u.uid >= 1000 {
		t.Errorf("uid %d, want a system uid (1-999)", u.uid)
	}
	g, err := user.LookupGroupId(fmt.Sprint(u.gid))
	if err != nil || g.Name != name {
		t.Errorf("primary group %d = %v, %v; want a group %s of its own", u.gid, g, err, name)
	}
	lu, _ := user.Lookup(name)
	if lu.HomeDir != "/nonexistent" {
		t.Errorf("home %q, want /nonexistent", lu.HomeDir)
	}
	if _, err := os.Stat(lu.HomeDir); err == nil {
		t.Errorf("home %s exists", lu.HomeDir)
	}
	if shell := loginShell(t, name); shell != nologinShell() {
		t.Errorf("shell %q, want %q", shell, nologinShell())
	}
	if err := createSystemUser(context.Background(), name); err == nil {
		t.Error("creating an existing user succeeded")
	}
}

// removeUser deletes a user (and its group) made by a test.
func removeUser(t *testing.T, name string) {
	t.Helper()
	tool, args := "userdel", []string{name}
	if _, ok := findProgram(tool); !ok {
		tool, args = "deluser", []string{"--quiet", name}
	}
	p, ok := findProgram(tool)
	if !ok {
		t.Errorf("cannot remove test user %s: no userdel or deluser", name)
		return
	}
	if out, err := exec.Command(p, args...).CombinedOutput(); err != nil {
		t.Errorf("removing test user %s: %v\n%s", name, err, out)
	}
	if g, err := user.LookupGroup(name); err == nil {
		if p, ok := findProgram("groupdel"); ok {
			exec.Command(p, g.Name).Run()
		}
	}
}

// loginShell returns name's shell from the passwd database.
func loginShell(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("getent", "passwd", name).Output()
	if err != nil {
		t.Fatalf("getent passwd %s: %v", name, err)
	}
	fields := strings.Split(strings.TrimSpace(string(out)), ":")
	if len(fields) != 7 {
		t.Fatalf("getent passwd %s = %q", name, out)
	}
	return fields[6]
}

// An existing data directory decides the server user: its owner, even an
// owner without a passwd entry, over Options.User and $LAYERQ_PG_USER; a
// root-owned or symlinked one does not.
func TestExistingDataDirDecidesUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root chooses a server user")
	}
	ctx := context.Background()
	t.Setenv(serverUserEnv, "nobody")
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	dataDir := func(t *testing.T, uid, gid int) string {
		d := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, tc := range []struct {
		name     string
		dir      func(t *testing.T) string
		override string
		wantUID  uint32
		wantGID  uint32
		wantName string
	}{
		{"owner without passwd entry", func(t *testing.T) string { return dataDir(t, 54321, 54322) }, "postgres", 54321, 54322, "uid 54321"},
		{"owner with passwd entry", func(t *testing.T) string { return dataDir(t, int(uidOf(t, nobody.Uid)), 54322) }, "postgres", uidOf(t, nobody.Uid), uidOf(t, nobody.Gid), "nobody"},
		{"root-owned: the environment", func(t *testing.T) string { return dataDir(t, 0, 0) }, "", uidOf(t, nobody.Uid), uidOf(t, nobody.Gid), "nobody"},
		{"missing: the override", func(t *testing.T) string { return filepath.Join(t.TempDir(), "data") }, "nobody", uidOf(t, nobody.Uid), uidOf(t, nobody.Gid), "nobody"},
		{"symlink: not followed", func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), "data")
			if err := os.Symlink(dataDir(t, 54321, 54322), d); err != nil {
				t.Fatal(err)
			}
			return d
		}, "", uidOf(t, nobody.Uid), uidOf(t, nobody.Gid), "nobody"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := resolveServerUser(ctx, tc.override, tc.dir(t))
			if err != nil {
				t.Fatal(err)
			}
			if u.uid != tc.wantUID || u.gid != tc.wantGID || u.name != tc.wantName || !u.switchCred {
				t.Errorf("user = %+v, want %s uid %d gid %d", u, tc.wantName, tc.wantUID, tc.wantGID)
			}
		})
	}
}

// A cluster made as one user keeps running as it when a later start has
// another environment.
func TestClusterKeepsItsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root chooses a server user")
	}
	ctx := testContext(t)
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	dir := clusterDir(t)
	t.Setenv(serverUserEnv, "nobody")
	c, err := Start(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := processUID(t, postmasterPID(t, c)); fmt.Sprint(got) != nobody.Uid {
		t.Fatalf("first start runs as uid %d, want nobody (%s)", got, nobody.Uid)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	t.Setenv(serverUserEnv, "")
	c = start(t, ctx, Options{Dir: dir, User: "postgres"})
	if got := processUID(t, postmasterPID(t, c)); fmt.Sprint(got) != nobody.Uid {
		t.Fatalf("second start runs as uid %d, want the data dir's owner nobody (%s)", got, nobody.Uid)
	}
}

func uidOf(t *testing.T, s string) uint32 {
	t.Helper()
	var n uint32
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}
