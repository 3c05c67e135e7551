package pglaunch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// helperDirEnv makes the test binary act as a short-lived CLI process that
// starts a Persistent cluster in the named Dir and exits.
const helperDirEnv = "PGLAUNCH_TEST_HELPER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperDirEnv); dir != "" {
		c, err := Start(context.Background(), Options{Dir: dir, Persistent: true, Database: "layerq"})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(c.Port())
		os.Exit(0)
	}
	if _, err := FindBinaries(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// clusterDir returns a fresh directory under os.TempDir (t.TempDir's parent
// is 0700 and root-owned, so the server user could not reach it).
func clusterDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pglaunch-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func start(t *testing.T, ctx context.Context, opts Options) *Cluster {
	t.Helper()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("cleanup Stop: %v", err)
		}
	})
	return c
}

func connectT(t *testing.T, ctx context.Context, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryString(t *testing.T, ctx context.Context, conn *pgx.Conn, sql string) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// pidFileIn reads data/postmaster.pid in the cluster dir dir.
func pidFileIn(dir string) (pidFile, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return pidFile{}, err
	}
	defer root.Close()
	return readPIDFile(root)
}

// postmasterPID reads the running server's PID from its pid file.
func postmasterPID(t *testing.T, c *Cluster) int {
	t.Helper()
	pf, err := pidFileIn(c.Dir())
	if err != nil {
		t.Fatalf("reading postmaster.pid: %v", err)
	}
	return pf.pid
}

// processUID returns the real uid of pid.
func processUID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
			uid, _ := strconv.Atoi(f[1])
			return uid
		}
	}
	t.Fatalf("no Uid in /proc/%d/status", pid)
	return -1
}

func TestFindBinaries(t *testing.T) {
	dir, err := FindBinaries()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range serverBinaries {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if !strings.Contains(ErrNoBinaries.Error(), "apt-get install postgresql") {
		t.Errorf("ErrNoBinaries lacks install hint: %v", ErrNoBinaries)
	}
}

func TestFindBinariesFallbackAndMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dirs, _ := filepath.Glob(versionedBinGlob)
	dir, err := FindBinaries()
	if len(dirs) > 0 {
		if err != nil || !strings.HasPrefix(dir, "/usr/lib/postgresql/") {
			t.Errorf("without PATH: FindBinaries() = %q, %v; want a dir under /usr/lib/postgresql", dir, err)
		}
	}

	old := versionedBinGlob
	versionedBinGlob = filepath.Join(t.TempDir(), "*", "bin")
	t.Cleanup(func() { versionedBinGlob = old })
	if _, err := FindBinaries(); !errors.Is(err, ErrNoBinaries) {
		t.Errorf("FindBinaries() err = %v, want ErrNoBinaries", err)
	}
	if _, err := Start(context.Background(), Options{Dir: t.TempDir()}); !errors.Is(err, ErrNoBinaries) {
		t.Errorf("Start err = %v, want ErrNoBinaries", err)
	}
}

func TestStartStop(t *testing.T) {
	ctx := testContext(t)
	dir := clusterDir(t)
	c := start(t, ctx, Options{Dir: dir, Database: "layerq"})
	if c.Reused() {
		t.Error("fresh cluster reports Reused")
	}

	cfg, err := pgconn.ParseConfig(c.URL("layerq"))
	if err != nil {
		t.Fatalf("pgx rejects URL %q: %v", c.URL("layerq"), err)
	}
	if cfg.Host != c.SocketDir() || int(cfg.Port) != c.Port() || cfg.User != SuperUser || cfg.Database != "layerq" {
		t.Errorf("URL %q parses to host=%q port=%d user=%q db=%q", c.URL("layerq"), cfg.Host, cfg.Port, cfg.User, cfg.Database)
	}

	conn := connectT(t, ctx, c.URL("layerq"))
	if got := queryString(t, ctx, conn, "SELECT current_setting('port')"); got != strconv.Itoa(c.Port()) {
		t.Errorf("port = %s, want %d", got, c.Port())
	}
	if got := queryString(t, ctx, conn, "SHOW unix_socket_directories"); got != c.SocketDir() {
		t.Errorf("unix_socket_directories = %q, want %q", got, c.SocketDir())
	}
	if got := queryString(t, ctx, conn, "SHOW listen_addresses"); got != "" {
		t.Errorf("listen_addresses = %q, want unix socket only", got)
	}
	for setting, want := range map[string]string{
		"current_user": SuperUser, "current_database()": "layerq",
		"current_setting('fsync')": "off", "current_setting('max_connections')": "200",
		"current_setting('shared_buffers')": "128MB", "current_setting('server_encoding')": "UTF8",
		"current_setting('lc_collate')": "C",
	} {
		if got := queryString(t, ctx, conn, "SELECT "+setting); got != want {
			t.Errorf("%s = %q, want %q", setting, got, want)
		}
	}

	fi, err := os.Stat(c.SocketDir())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("socket dir mode %v, want 0700", fi.Mode().Perm())
	}
	pid := postmasterPID(t, c)
	uid := processUID(t, pid)
	if os.Geteuid() == 0 {
		if uid == 0 {
			t.Errorf("postmaster runs as root")
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid {
			t.Errorf("socket dir owned by uid %d, server runs as uid %d", st.Uid, uid)
		}
	} else if uid != os.Geteuid() {
		t.Errorf("postmaster uid %d, want caller's %d", uid, os.Geteuid())
	}

	conn.Close(ctx)
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if st := processState(pid); st == procPostgres {
		t.Errorf("postmaster %d still running after Stop", pid)
	}
	if _, err := pgx.Connect(ctx, c.URL("layerq")); err == nil {
		t.Error("connected after Stop")
	}
	if err := c.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "PG_VERSION")); err != nil {
		t.Errorf("Stop removed the data dir: %v", err)
	}
}

func TestListenTCP(t *testing.T) {
	ctx := testContext(t)
	c := start(t, ctx, Options{Dir: clusterDir(t), ListenTCP: true})
	conn := connectT(t, ctx, c.TCPURL("postgres"))
	if got := queryString(t, ctx, conn, "SELECT host(inet_server_addr())"); got != "127.0.0.1" {
		t.Errorf("inet_server_addr = %q, want 127.0.0.1 (a TCP connection)", got)
	}
	if got := queryString(t, ctx, conn, "SELECT inet_server_port()::text"); got != strconv.Itoa(c.Port()) {
		t.Errorf("inet_server_port = %s, want %d", got, c.Port())
	}
	if got := queryString(t, ctx, conn, "SHOW listen_addresses"); got != "127.0.0.1" {
		t.Errorf("listen_addresses = %q", got)
	}
	// The unix socket works too.
	sock := connectT(t, ctx, c.URL("postgres"))
	if got := queryString(t, ctx, sock, "SELECT coalesce(host(inet_server_addr()), 'socket')"); got != "socket" {
		t.Errorf("URL connection went over %q, want the unix socket", got)
	}
}

// A server reused from its postmaster.pid keeps listening on TCP when
// restarted through the reusing Cluster, which did not ask for TCP.
func TestPersistentReuseKeepsTCP(t *testing.T) {
	ctx := testContext(t)
	dir := clusterDir(t)
	c1 := start(t, ctx, Options{Dir: dir, Persistent: true, ListenTCP: true})
	c2 := start(t, ctx, Options{Dir: dir, Persistent: true})
	if !c2.Reused() || c2.Port() != c1.Port() {
		t.Fatalf("reused %v on port %d, want the running server on %d", c2.Reused(), c2.Port(), c1.Port())
	}
	if err := c2.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	conn := connectT(t, ctx, c2.TCPURL("postgres"))
	if got := queryString(t, ctx, conn, "SHOW listen_addresses"); got != "127.0.0.1" {
		t.Errorf("listen_addresses after restart = %q", got)
	}
}

func TestExplicitPort(t *testing.T) {
	ctx := testContext(t)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	c := start(t, ctx, Options{Dir: clusterDir(t), Port: port, ListenTCP: true})
	if c.Port() != port {
		t.Fatalf("Port() = %d, want %d", c.Port(), port)
	}
	conn := connectT(t, ctx, fmt.Sprintf("postgres://layerq@127.0.0.1:%d/postgres?sslmode=disable", port))
	if got := queryString(t, ctx, conn, "SELECT current_setting('port')"); got != strconv.Itoa(port) {
		t.Errorf("port = %s, want %d", got, port)
	}
}

func TestRestartKeepsDataAndPort(t *testing.T) {
	ctx := testContext(t)
	c := start(t, ctx, Options{Dir: clusterDir(t), Database: "layerq"})
	conn, err := pgx.Connect(ctx, c.URL("layerq"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE survivor (x int); INSERT INTO survivor VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	port, pid := c.Port(), postmasterPID(t, c)
	if err := c.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if c.Port() != port {
		t.Errorf("port changed on restart: %d -> %d", port, c.Port())
	}
	if newPID := postmasterPID(t, c); newPID == pid {
		t.Errorf("postmaster pid unchanged (%d): not restarted", pid)
	}
	conn = connectT(t, ctx, c.URL("layerq"))
	if got := queryString(t, ctx, conn, "SELECT x::text FROM survivor"); got != "42" {
		t.Errorf("survivor = %s", got)
	}
}

func TestPersistentReuse(t *testing.T) {
	ctx := testContext(t)
	dir := clusterDir(t)
	opts := Options{Dir: dir, Persistent: true, Database: "layerq"}
	c1 := start(t, ctx, opts)
	if c1.Reused() {
		t.Fatal("first Start reports Reused")
	}
	pid := postmasterPID(t, c1)
	conn := connectT(t, ctx, c1.URL("layerq"))
	if got := queryString(t, ctx, conn, "SHOW fsync"); got != "on" {
		t.Errorf("persistent cluster has fsync=%s", got)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (x int)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	c2 := start(t, ctx, opts)
	if !c2.Reused() {
		t.Fatal("second Start did not reuse the running server")
	}
	if c2.Port() != c1.Port() || c2.URL("layerq") != c1.URL("layerq") {
		t.Errorf("reused cluster port %d / URL %s, want %d / %s", c2.Port(), c2.URL("layerq"), c1.Port(), c1.URL("layerq"))
	}
	if got := postmasterPID(t, c2); got != pid {
		t.Errorf("postmaster pid %d, want the original %d", got, pid)
	}

	// A reused server is taken at its postmaster.pid's word: a Start that
	// needs no database opens no connection to it.
	watch := connectT(t, ctx, c2.URL("layerq"))
	sessions := func() string {
		t.Helper()
		if _, err := watch.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
			t.Fatal(err)
		}
		return queryString(t, ctx, watch, "SELECT coalesce(sum(sessions), 0)::text FROM pg_stat_database WHERE datname <> 'layerq'")
	}
	before := sessions()
	if c := start(t, ctx, Options{Dir: dir, Persistent: true}); !c.Reused() {
		t.Fatal("Start without a database did not reuse the running server")
	}
	// A connection's session is counted when it ends: give one the time.
	for range 10 {
		time.Sleep(100 * time.Millisecond)
		if after := sessions(); after != before {
			t.Fatalf("sessions outside layerq %s before a reusing Start, %s after: it connected", before, after)
		}
	}
	watch.Close(ctx)

	// The database is checked all the same when asked for, and made if it
	// is missing.
	if c := start(t, ctx, Options{Dir: dir, Persistent: true, Database: "second"}); !c.Reused() {
		t.Fatal("third Start did not reuse the running server")
	}
	admin := connectT(t, ctx, c2.URL("postgres"))
	if got := queryString(t, ctx, admin, "SELECT count(*)::text FROM pg_database WHERE datname = 'second'"); got != "1" {
		t.Fatalf("database second after a reusing Start: %s, want made", got)
	}
	admin.Close(ctx)

	// Stopping through the reusing Cluster stops the one server.
	if err := c2.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if processState(pid) == procPostgres {
		t.Fatalf("postmaster %d still running after Stop", pid)
	}

	// A later Start finds nothing running, starts it again on the same port,
	// and the data survived.
	c3 := start(t, ctx, opts)
	if c3.Reused() {
		t.Error("Start after Stop reports Reused")
	}
	if c3.Port() != c1.Port() {
		t.Errorf("restarted persistent cluster on port %d, want recorded %d", c3.Port(), c1.Port())
	}
	conn = connectT(t, ctx, c3.URL("layerq"))
	if got := queryString(t, ctx, conn, "SELECT count(*)::text FROM kept"); got != "0" {
		t.Errorf("count = %s", got)
	}
}

func TestPersistentOutlivesProcess(t *testing.T) {
	ctx := testContext(t)
	dir := clusterDir(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperDirEnv+"="+dir)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("helper process: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	helperPort, _ := strconv.Atoi(strings.TrimSpace(string(out)))

	c := start(t, ctx, Options{Dir: dir, Persistent: true, Database: "layerq"})
	if !c.Reused() {
		t.Fatal("server started by an exited process was not reused")
	}
	if c.Port() != helperPort {
		t.Errorf("port %d, helper reported %d", c.Port(), helperPort)
	}
	conn := connectT(t, ctx, c.URL("layerq"))
	if got := queryString(t, ctx, conn, "SELECT current_database()"); got != "layerq" {
		t.Errorf("current_database = %q", got)
	}
	conn.Close(ctx)
	pid := postmasterPID(t, c)
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if processState(pid) == procPostgres {
		t.Errorf("postmaster %d still running after Stop", pid)
	}
}

func TestConcurrentPersistentStart(t *testing.T) {
	ctx := testContext(t)
	opts := Options{Dir: clusterDir(t), Persistent: true, Database: "layerq"}
	var (
		wg       sync.WaitGroup
		clusters [2]*Cluster
		errs     [2]error
	)
	for i := range clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clusters[i], errs[i] = Start(ctx, opts)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Start %d: %v", i, err)
		}
	}
	t.Cleanup(func() {
		for _, c := range clusters {
			c.Stop(context.Background())
		}
	})
	if clusters[0].Reused() == clusters[1].Reused() {
		t.Fatalf("Reused = %v and %v; want exactly one reuse", clusters[0].Reused(), clusters[1].Reused())
	}
	if clusters[0].Port() != clusters[1].Port() {
		t.Errorf("ports differ: %d vs %d", clusters[0].Port(), clusters[1].Port())
	}
	var starts [2]time.Time
	for i, c := range clusters {
		conn := connectT(t, ctx, c.URL("layerq"))
		if err := conn.QueryRow(ctx, "SELECT pg_postmaster_start_time()").Scan(&starts[i]); err != nil {
			t.Fatal(err)
		}
	}
	if !starts[0].Equal(starts[1]) {
		t.Errorf("two servers: started at %v and %v", starts[0], starts[1])
	}
}

func TestPersistentStalePIDFile(t *testing.T) {
	ctx := testContext(t)
	opts := Options{Dir: clusterDir(t), Persistent: true}
	c1, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	pid := postmasterPID(t, c1)
	// Crash the postmaster; its backends notice and exit on their own, maybe
	// while the next Start is already running.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c1.child.exited
	if _, err := pidFileIn(c1.Dir()); err != nil {
		t.Fatalf("expected a stale postmaster.pid after the crash: %v", err)
	}

	c2 := start(t, ctx, opts)
	if c2.Reused() {
		t.Fatal("Start reused a dead server")
	}
	if log, err := os.ReadFile(c2.LogPath()); err == nil {
		t.Logf("starts that waited for the crashed server's backends: %d",
			strings.Count(string(log), "pre-existing shared memory block"))
	}
	conn := connectT(t, ctx, c2.URL("postgres"))
	if got := queryString(t, ctx, conn, "SELECT 'alive'"); got != "alive" {
		t.Errorf("got %q", got)
	}
}

func TestUnreachableDirAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root hands the server to another user")
	}
	ctx := testContext(t)
	private := clusterDir(t) // root-owned, mode 0700
	dir := filepath.Join(private, "cluster")
	_, err := Start(ctx, Options{Dir: dir})
	if err == nil {
		t.Fatal("Start succeeded in a directory the server user cannot reach")
	}
	if !strings.Contains(err.Error(), private) || !strings.Contains(err.Error(), "choose a Dir") {
		t.Errorf("error does not name %s or suggest another Dir: %v", private, err)
	}
	if _, statErr := os.Stat(dir); statErr == nil {
		t.Errorf("Start created %s despite the error", dir)
	}
}

func TestSocketPathTooLong(t *testing.T) {
	dir := filepath.Join(os.TempDir(), strings.Repeat("x", 100))
	_, err := Start(context.Background(), Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "too long") {
		t.Fatalf("err = %v, want socket path too long", err)
	}
}

// A primary whose commits wait for its standby, and the standby: a row
// committed on the primary is on the standby; the primary killed, the
// standby promoted takes writes and holds every committed row; a URL
// naming both, read-write, reaches whichever is the primary. Commits wait
// until the standby has applied them (remote_apply: with on, a commit
// returns once the standby has flushed it, which it may not have replayed
// when the test reads it there).
func TestStandbyPromotion(t *testing.T) {
	ctx := testContext(t)
	primary := start(t, ctx, Options{Dir: clusterDir(t), Database: "layerq", ListenTCP: true, Settings: []string{"synchronous_commit=remote_apply"}})
	standby := start(t, ctx, Options{Dir: clusterDir(t), ListenTCP: true, StandbyOf: primary})
	// Commits wait for the standby from now on (set once it is there: a
	// primary waiting for a standby that is not up yet takes no commit).
	pconn := connectT(t, ctx, primary.URL("postgres"))
	if _, err := pconn.Exec(ctx, "ALTER SYSTEM SET synchronous_standby_names = '*'"); err != nil {
		t.Fatal(err)
	}
	if _, err := pconn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	// The setting takes effect when the primary has reloaded and the
	// standby reports in: until then a commit does not wait.
	for deadline := time.Now().Add(30 * time.Second); queryString(t, ctx, pconn, "SELECT coalesce(max(sync_state), '') FROM pg_stat_replication") != "sync"; {
		if time.Now().After(deadline) {
			t.Fatal("the standby is not streaming synchronously after 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	pconn.Close(ctx)
	both := fmt.Sprintf("postgres://%s@127.0.0.1:%d,127.0.0.1:%d/layerq?sslmode=disable&target_session_attrs=read-write", SuperUser, primary.Port(), standby.Port())

	conn := connectT(t, ctx, both)
	if got := queryString(t, ctx, conn, "SELECT inet_server_port()::text"); got != fmt.Sprint(primary.Port()) {
		t.Fatalf("read-write URL reached port %s, want the primary's %d", got, primary.Port())
	}
	// Synchronous: the commit returns once the standby has it.
	if _, err := conn.Exec(ctx, "CREATE TABLE t (x int); INSERT INTO t SELECT generate_series(1, 1000)"); err != nil {
		t.Fatal(err)
	}
	if got := queryString(t, ctx, conn, "SELECT sync_state FROM pg_stat_replication"); got != "sync" {
		t.Fatalf("replication state %q, want sync", got)
	}
	conn.Close(ctx)
	sconn := connectT(t, ctx, standby.URL("layerq"))
	if got := queryString(t, ctx, sconn, "SELECT pg_is_in_recovery()::text || ' ' || count(*) FROM t"); got != "true 1000" {
		t.Fatalf("standby: %s, want in recovery with 1000 rows", got)
	}
	sconn.Close(ctx)

	if err := primary.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := standby.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	conn = connectT(t, ctx, both)
	if _, err := conn.Exec(ctx, "INSERT INTO t VALUES (1001)"); err != nil {
		t.Fatalf("writing to the promoted standby: %v", err)
	}
	if got := queryString(t, ctx, conn, "SELECT inet_server_port()::text || ' ' || count(*)"+" FROM t"); got != fmt.Sprintf("%d 1001", standby.Port()) {
		t.Fatalf("after promotion: %s, want the standby's port and 1001 rows", got)
	}
}
