package pglaunch

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// SuperUser is the database superuser initdb creates in every cluster.
const SuperUser = "layerq"

// defaultTimeout bounds Start, Stop and Restart when ctx has no deadline.
const defaultTimeout = 30 * time.Second

// maxSocketPath is the longest unix socket path the kernel accepts
// (sizeof(sun_path) minus the terminating NUL).
const maxSocketPath = 107

// Options configures Start.
type Options struct {
	// Dir is the cluster root; it holds data/, a private socket dir (mode
	// 0700), and the server log. Created if missing. When the caller is root
	// every parent of Dir must be traversable by the server OS user.
	Dir string
	// Port is the server port; 0 picks a free TCP port (or, for a Persistent
	// cluster, the port it used last time).
	Port int
	// ListenTCP makes the server also listen on 127.0.0.1:Port; otherwise it
	// listens on its unix socket only (listen_addresses='').
	ListenTCP bool
	// Persistent makes the server outlive this process: it is started
	// detached in its own session, with durable settings (fsync on), and a
	// later Start on the same Dir reuses the running server instead of
	// starting a second one; a reused server keeps the port and listen
	// addresses it was started with. It is stopped only by an explicit Stop.
	Persistent bool
	// Database is a database to create after start if it does not exist
	// (for example "layerq"); "" creates none.
	Database string
	// Settings are more server settings ("name=value", each passed with
	// -c after pglaunch's own, so they win; ALTER SYSTEM cannot change
	// them): synchronous_commit=on, say.
	Settings []string
	// StandbyOf, when set, makes a new cluster a streaming-replication
	// standby of that running cluster: its data directory is a
	// pg_basebackup of it (with standby.signal and primary_conninfo), not
	// an initdb. Both run as the same server OS user.
	StandbyOf *Cluster
	// User overrides the unprivileged OS user a new cluster's server runs
	// as when the caller is root (see the package documentation for the
	// default). Ignored when the caller is not root, and when the data
	// directory exists: the server always runs as its owner.
	User string
}

// Cluster is a running PostgreSQL server started or found by Start.
type Cluster struct {
	opts    Options // Dir is absolute
	binDir  string
	user    *osUser
	dataDir string
	sockDir string
	logPath string

	mu     sync.Mutex
	port   int
	tcp    bool
	reused bool
	// child is the postmaster when this Cluster started it; nil for a
	// reused or stopped server.
	child *child
}

// child is a postmaster started by this process. A goroutine reaps it, so
// it never lingers as a zombie while this process lives.
type child struct {
	proc   *os.Process
	exited chan struct{} // closed once reaped
	err    error         // Wait's result; read only after exited is closed
}

// Start starts the cluster in opts.Dir, running initdb first if the data
// directory does not exist yet, waits until it accepts connections and
// creates opts.Database. For a Persistent cluster an already running server
// in Dir is reused instead (see Reused). Concurrent Starts on one Dir, from
// goroutines or processes, are serialised with a lock file. If ctx has no
// deadline, Start gives up after 30 seconds.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("pglaunch: Options.Dir is required")
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("pglaunch: invalid port %d", opts.Port)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("resolving cluster dir %s: %w", opts.Dir, err)
	}
	opts.Dir = dir
	binDir, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	sockDir := filepath.Join(dir, "sock")
	if sock := filepath.Join(sockDir, ".s.PGSQL.65535"); len(sock) > maxSocketPath {
		return nil, fmt.Errorf("cluster dir %s is too long: the unix socket path %s would exceed %d bytes; choose a shorter Dir", dir, sock, maxSocketPath)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	dataDir := filepath.Join(dir, "data")
	u, err := resolveServerUser(ctx, opts.User, dataDir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		opts:    opts,
		binDir:  binDir,
		user:    u,
		dataDir: dataDir,
		sockDir: sockDir,
		logPath: filepath.Join(dir, "server.log"),
		port:    opts.Port,
		tcp:     opts.ListenTCP,
	}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// withDefaultTimeout bounds ctx by defaultTimeout unless it has a deadline.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, defaultTimeout)
}

// URL returns a pgx connection string for database that connects as the
// superuser through the cluster's unix socket, for example
// "postgres://layerq@/db?host=%2Fsome%2Fdir%2Fsock&port=5432&sslmode=disable".
func (c *Cluster) URL(database string) string {
	return socketURL(c.sockDir, c.Port(), database)
}

// socketURL builds the URL that URL returns.
func socketURL(sockDir string, port int, database string) string {
	q := url.Values{}
	q.Set("host", sockDir)
	q.Set("port", strconv.Itoa(port))
	q.Set("sslmode", "disable")
	u := url.URL{Scheme: "postgres", User: url.User(SuperUser), Path: "/" + database, RawQuery: q.Encode()}
	return u.String()
}

// TCPURL returns a pgx connection string for database over TCP to
// 127.0.0.1:Port. It only works when the server listens on TCP
// (Options.ListenTCP, or a reused server that was started with it).
func (c *Cluster) TCPURL(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(SuperUser),
		Host:     "127.0.0.1:" + strconv.Itoa(c.Port()),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Reused reports whether Start found the server already running (Persistent
// clusters only) rather than starting it.
func (c *Cluster) Reused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reused
}

// Port returns the server's port.
func (c *Cluster) Port() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.port
}

// Dir returns the cluster root directory (absolute).
func (c *Cluster) Dir() string { return c.opts.Dir }

// SocketDir returns the private directory holding the server's unix socket.
func (c *Cluster) SocketDir() string { return c.sockDir }

// LogPath returns the server log file.
func (c *Cluster) LogPath() string { return c.logPath }

// Stop shuts the server down with a fast shutdown (SIGINT to the postmaster:
// open sessions are rolled back) and waits until it has exited. It also stops
// a server this Cluster reused. Stop removes no files; the caller owns Dir.
// Stopping a stopped server is a no-op. If ctx has no deadline, Stop waits
// at most 30 seconds and then kills the server.
func (c *Cluster) Stop(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopLocked(ctx)
}

// Restart stops the server and starts it again in the same Dir on the same
// port, so URLs handed out before stay valid. Afterwards Reused is false.
func (c *Cluster) Restart(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	c.mu.Lock()
	err := c.stopLocked(ctx)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.start(ctx)
}

// Kill ends the server as a crash or a lost machine would: SIGKILL to the
// postmaster, whose backends then exit on their own. Restart starts it
// again (crash recovery).
func (c *Cluster) Kill() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.child
	if ch == nil {
		return errors.New("pglaunch: Kill: no server started by this process is running")
	}
	c.child = nil
	if err := ch.proc.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-ch.exited
	return nil
}

// Promote makes a standby a primary (pg_promote) and waits until it takes
// writes.
func (c *Cluster) Promote(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	conn, err := connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_promote(true, 60)").Scan(&ok); err != nil {
		return fmt.Errorf("promoting the standby in %s: %w", c.dataDir, err)
	}
	if !ok {
		return fmt.Errorf("promoting the standby in %s: not promoted within 60 s", c.dataDir)
	}
	return nil
}
