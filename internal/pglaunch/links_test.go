package pglaunch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// victims are files and a directory outside any cluster dir, owned by root
// and closed to the server user, which links planted in a cluster dir point
// at.
type victims struct {
	secret string // the secret file's content
	file   string // a root-owned 0640 file holding secret
	dir    string // a root-owned 0750 directory holding a copy of the file
}

func newVictims(t *testing.T) victims {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	v := victims{secret: "top-secret-" + hex.EncodeToString(b)}
	base := clusterDir(t)
	v.file = filepath.Join(base, "secret")
	v.dir = filepath.Join(base, "private")
	inner := filepath.Join(v.dir, "inner")
	for _, step := range []func() error{
		func() error { return os.WriteFile(v.file, []byte(v.secret+"\n"), 0o640) },
		func() error { return os.Mkdir(v.dir, 0o750) },
		func() error { return os.WriteFile(inner, []byte(v.secret+"\n"), 0o640) },
		func() error { return os.Chmod(v.file, 0o640) }, // whatever the umask
		func() error { return os.Chmod(v.dir, 0o750) },
		func() error { return os.Chmod(inner, 0o640) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// snapshot describes content, mode and owner of the victims (a
// directory's content is its listing).
func (v victims) snapshot(t *testing.T) string {
	t.Helper()
	var out []string
	for _, p := range []string{v.file, v.dir, filepath.Join(v.dir, "inner")} {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatalf("victim %s: %v", p, err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		var content string
		if fi.IsDir() {
			ents, err := os.ReadDir(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				content += e.Name() + " "
			}
		} else {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			content = string(b)
		}
		out = append(out, fmt.Sprintf("%s: %v uid=%d gid=%d %q", p, fi.Mode(), st.Uid, st.Gid, content))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// serverUID is the uid the server runs as for a new cluster.
func serverUID(t *testing.T) (uid, gid int) {
	t.Helper()
	u, err := resolveServerUser(context.Background(), "", filepath.Join(t.TempDir(), "none"))
	if err != nil {
		t.Fatal(err)
	}
	return int(u.uid), int(u.gid)
}

// Links planted in a cluster dir by its owner, the server user, never make
// root write, truncate, chmod, chown or read a file outside it: Start
// refuses them (naming them) or leaves them alone, the files they point at
// stay as they were, and no error quotes them.
func TestLinksInClusterDirAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root hands the cluster dir to another user")
	}
	ctx := testContext(t)
	uid, gid := serverUID(t)

	// A running server whose PID a planted postmaster.pid can name, so that
	// Start waits for an answer that never comes and reports the log tail.
	other := start(t, ctx, Options{Dir: clusterDir(t)})
	otherPID := postmasterPID(t, other)

	symlink := func(target func(victims) string, name string) func(*testing.T, string, victims) {
		return func(t *testing.T, dir string, v victims) {
			if err := os.Symlink(target(v), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	hardlink := func(name string) func(*testing.T, string, victims) {
		return func(t *testing.T, dir string, v victims) {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Link(v.file, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	file := func(v victims) string { return v.file }
	dir := func(v victims) string { return v.dir }
	// pidFileNaming plants data/postmaster.pid naming the other server, and
	// a data dir the server user owns, like a cluster that is running.
	pidFileNaming := func(t *testing.T, d string) {
		if err := os.Mkdir(filepath.Join(d, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
		pf := fmt.Sprintf("%d\n%s\n0\n%d\n", otherPID, filepath.Join(d, "data"), other.Port())
		if err := os.WriteFile(filepath.Join(d, "data", pidFileName), []byte(pf), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{filepath.Join(d, "data"), filepath.Join(d, "data", pidFileName)} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}

	cases := []struct {
		name  string
		plant func(t *testing.T, dir string, v victims)
		// refused is the planted name Start must refuse, naming it.
		refused string
		// starts is set when Start must succeed (the link is left alone).
		starts bool
		// persistent makes Start look for a running server first, reading
		// data/postmaster.pid (and the server log if it does not answer).
		persistent bool
		timeout    time.Duration
	}{
		{name: "lock symlink", plant: symlink(file, "lock"), refused: "lock"},
		{name: "server.log symlink", plant: symlink(file, "server.log"), refused: "server.log"},
		{name: "server.log hard link", plant: hardlink("server.log"), refused: "server.log"},
		{name: "port symlink", plant: symlink(file, "port"), refused: "port"},
		{name: "port hard link", plant: hardlink("port"), refused: "port"},
		{name: "sock symlink", plant: symlink(dir, "sock"), refused: "sock"},
		{name: "data symlink", plant: symlink(dir, "data"), refused: "data"},
		{name: "scratch data dir symlink", plant: symlink(dir, "data.initdb"), starts: true},
		{name: "symlinked subdirectory", plant: symlink(dir, "sub"), starts: true},
		{name: "hard link in a subdirectory", plant: hardlink("sub/x"), starts: true},
		{name: "symlink in a subdirectory", plant: func(t *testing.T, d string, v victims) {
			if err := os.Mkdir(filepath.Join(d, "sub"), 0o700); err != nil {
				t.Fatal(err)
			}
			symlink(file, "sub/x")(t, d, v)
		}, starts: true},
		{name: "postmaster.pid symlink", plant: func(t *testing.T, d string, v victims) {
			if err := os.Mkdir(filepath.Join(d, "data"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(filepath.Join(d, "data"), uid, gid); err != nil {
				t.Fatal(err)
			}
			symlink(file, "data/"+pidFileName)(t, d, v)
		}, persistent: true},
		{name: "postmaster.pid hard link", plant: func(t *testing.T, d string, v victims) {
			if err := os.Mkdir(filepath.Join(d, "data"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(filepath.Join(d, "data"), uid, gid); err != nil {
				t.Fatal(err)
			}
			hardlink("data/"+pidFileName)(t, d, v)
		}, persistent: true},
		{name: "server.log symlink read for the log tail", plant: func(t *testing.T, d string, v victims) {
			pidFileNaming(t, d)
			symlink(file, "server.log")(t, d, v)
		}, persistent: true, timeout: 3 * time.Second},
		{name: "server.log hard link read for the log tail", plant: func(t *testing.T, d string, v victims) {
			pidFileNaming(t, d)
			hardlink("server.log")(t, d, v)
		}, persistent: true, timeout: 3 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newVictims(t)
			before := v.snapshot(t)
			d := clusterDir(t)
			tc.plant(t, d, v)
			ctx := ctx
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			c, err := Start(ctx, Options{Dir: d, Persistent: tc.persistent})
			if err == nil {
				if stopErr := c.Stop(context.Background()); stopErr != nil {
					t.Errorf("Stop: %v", stopErr)
				}
			}
			if after := v.snapshot(t); after != before {
				t.Errorf("a file outside the cluster dir changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if err != nil && strings.Contains(err.Error(), v.secret) {
				t.Errorf("the error quotes a file outside the cluster dir: %v", err)
			}
			switch {
			case tc.refused != "" && err == nil:
				t.Errorf("Start accepted a link at %s", tc.refused)
			case tc.refused != "" && !strings.Contains(err.Error(), filepath.Join(d, tc.refused)+" "):
				t.Errorf("error does not name %s: %v", filepath.Join(d, tc.refused), err)
			case tc.starts && err != nil:
				t.Errorf("Start: %v", err)
			}
			if err != nil {
				t.Logf("Start: %v", err)
			}
		})
	}
}

// readPIDFile reads only data/postmaster.pid itself, and never quotes it.
func TestReadPIDFileRefusesLinks(t *testing.T) {
	v := newVictims(t)
	for _, tc := range []struct {
		name  string
		plant func(pidPath string) error
		want  string
	}{
		{"symlink out", func(p string) error { return os.Symlink(v.file, p) }, "symbolic link"},
		{"symlink inside", func(p string) error {
			if err := os.WriteFile(filepath.Join(filepath.Dir(p), "other"), []byte("1\n"), 0o600); err != nil {
				return err
			}
			return os.Symlink("other", p)
		}, "symbolic link"},
		{"hard link", func(p string) error { return os.Link(v.file, p) }, "hard links"},
		{"directory", func(p string) error { return os.Mkdir(p, 0o700) }, "not a regular file"},
		{"not a pid", func(p string) error { return os.WriteFile(p, []byte(v.secret+"\n"), 0o600) }, "the first line is not a PID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := clusterDir(t)
			if err := os.Mkdir(filepath.Join(d, "data"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := tc.plant(filepath.Join(d, "data", pidFileName)); err != nil {
				t.Fatal(err)
			}
			_, err := pidFileIn(d)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), v.secret) {
				t.Fatalf("error quotes the file: %v", err)
			}
		})
	}
	d := clusterDir(t)
	if err := os.Symlink(v.dir, filepath.Join(d, "data")); err != nil {
		t.Fatal(err)
	}
	if _, err := pidFileIn(d); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("symlinked data dir: err = %v", err)
	}
}
