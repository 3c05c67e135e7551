package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Bouncer starts PgBouncer in session mode (pool_mode = session, each
// client's server connection reset with DISCARD ALL when it leaves) in
// front of the server dbURL names, and returns dbURL's database through
// it: the pooler deployments put before Postgres. It is stopped at
// cleanup. PgBouncer must be installed (`go tool task pgbouncer`, Debian's
// pgbouncer package); the test fails saying so if it is not.
func Bouncer(t testing.TB, dbURL string) string {
	t.Helper()
	bin := pgbouncerBinary(t)
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", redact(dbURL), err)
	}
	// Under the system temp dir, owned by the user PgBouncer runs as
	// (it refuses to run as root): t.TempDir's parent is private to root.
	dir, err := os.MkdirTemp(clusterParent(), "layerq-pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cred := bouncerUser(t, cfg.Host)
	const port = 6432 // the socket's name in dir, which is private
	server := fmt.Sprintf("host=%s port=%d user=%s", cfg.Host, cfg.Port, cfg.User)
	if cfg.Password != "" {
		server += " password=" + cfg.Password
	}
	ini := fmt.Sprintf(`[databases]
* = %s
[pgbouncer]
listen_addr =
listen_port = %d
unix_socket_dir = %s
auth_type = trust
auth_file = %s
pool_mode = session
server_reset_query = DISCARD ALL
default_pool_size = 4
`, server, port, dir, filepath.Join(dir, "users.txt"))
	files := map[string]string{"pgbouncer.ini": ini, "users.txt": strconv.Quote(cfg.User) + ` ""` + "\n"}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if cred != nil {
		for _, p := range []string{dir, filepath.Join(dir, "pgbouncer.ini"), filepath.Join(dir, "users.txt")} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Its log goes to a file (written through the descriptor it inherits,
	// whoever it runs as), read when the test needs it.
	logPath := filepath.Join(dir, "pgbouncer.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child holds its own copy
	log := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	cmd := exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Killed with the test binary, should it die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("pgtest: starting pgbouncer: %v", err)
	}
	exited := make(chan struct{}) // closed when it has exited; waitErr set
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("pgbouncer's log:\n%s", log())
		}
	})
	q := url.Values{}
	q.Set("host", dir)
	q.Set("port", strconv.Itoa(port))
	q.Set("sslmode", "disable")
	via := (&url.URL{Scheme: "postgres", User: url.User(cfg.User), Path: "/" + cfg.Database, RawQuery: q.Encode()}).String()
	// Ready once a client gets through it to the server.
	for deadline := time.Now().Add(10 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, via)
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return via
		}
		select {
		case <-exited:
			t.Fatalf("pgtest: pgbouncer exited: %v (its log follows)", waitErr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgtest: no connection through pgbouncer within 10 s: %v", err)
		}
	}
}

// pgbouncerBinary finds pgbouncer on PATH or where Debian installs it.
func pgbouncerBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/pgbouncer", "/usr/local/sbin/pgbouncer", "/usr/local/bin/pgbouncer"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Fatal("pgbouncer is not installed: run `go tool task pgbouncer` (Debian's pgbouncer package), or put pgbouncer on PATH")
	return ""
}

// bouncerUser is the identity PgBouncer runs as: the caller's (nil),
// unless the caller is root (PgBouncer refuses to run as root); then the
// owner of the server's socket directory, who may reach it, or for a
// server over TCP, nobody.
func bouncerUser(t testing.TB, host string) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	if !filepath.IsAbs(host) {
		return &syscall.Credential{Uid: 65534, Gid: 65534}
	}
	fi, err := os.Stat(host)
	if err != nil {
		t.Fatalf("pgtest: the server's socket directory: %v", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		t.Fatalf("pgtest: the server's socket directory %s is root's: PgBouncer, which refuses to run as root, could not reach it", host)
	}
	return &syscall.Credential{Uid: st.Uid, Gid: st.Gid}
}
