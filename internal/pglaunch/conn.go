package pglaunch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// connectTimeout bounds one connection attempt while polling.
const connectTimeout = 2 * time.Second

// connect opens one connection to url.
func connect(ctx context.Context, url string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", url, err)
	}
	cfg.ConnectTimeout = connectTimeout
	return pgx.ConnectConfig(ctx, cfg)
}

// waitReady polls url until a connection succeeds, ctx is done, or gone
// reports that the server process has gone away (with the reason).
func waitReady(ctx context.Context, url string, gone func() (bool, string)) error {
	conn, err := waitConn(ctx, url, gone)
	if err != nil {
		return err
	}
	return conn.Close(context.Background())
}

// waitConn is waitReady, returning the connection that succeeded.
func waitConn(ctx context.Context, url string, gone func() (bool, string)) (*pgx.Conn, error) {
	var last error
	for {
		conn, err := connect(ctx, url)
		if err == nil {
			if err = conn.Ping(ctx); err == nil {
				return conn, nil
			}
			conn.Close(context.Background())
		}
		last = err
		if done, why := gone(); done {
			return nil, errors.New(why)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last connection error: %v)", ctx.Err(), last)
		case <-time.After(pollInterval):
		}
	}
}

// reuseRunning looks for a server already running in the data directory. It
// returns true once that server answers on the cluster's socket, false when
// none is running (clearing a postmaster.pid that would wrongly block a new
// start), and an error when one runs but does not answer before ctx is done.
//
// A server whose postmaster.pid says it is ready, in this data directory and
// on this socket directory, is taken at its word without a connection, if
// its process is a postmaster started on this data directory (not a PID
// reused since the file was written): on a host where forking a backend
// costs 15 ms, that is most of what a report waits for before its query.
// Any other state is checked on one connection. The file says ready during
// a crash recovery too; the caller's connection then waits for it
// (database.Open).
func (c *Cluster) reuseRunning(ctx context.Context, root *os.Root) (bool, error) {
	pf, err := readPIDFile(root)
	if err != nil {
		return false, nil // absent or unreadable: postgres itself re-checks
	}
	state := processState(pf.pid)
	if state == procPostgres && !c.ownsProcess(pf.pid) {
		state = procOther // another user's postgres cannot serve this data dir
	}
	switch state {
	case procGone:
		return false, nil // stale; postgres replaces it
	case procZombie, procOther:
		// postgres would see the PID as alive and refuse to start.
		if err := removeStalePIDFile(root, pf.pid); err != nil {
			return false, err
		}
		return false, nil
	}
	port := c.port
	if pf.port != 0 {
		port = pf.port
	}
	if pf.status == "ready" && pf.port != 0 && sameDir(pf.dataDir, c.dataDir) && sameDir(pf.sockDir, c.sockDir) && runsDataDir(pf.pid, c.dataDir) {
		c.port = port
		c.tcp = pf.listen != ""
		return true, nil
	}
	url := socketURL(c.sockDir, port, "postgres")
	stopped := false
	gone := func() (bool, string) {
		if processState(pf.pid) != procPostgres {
			stopped = true // it was shutting down; start afresh
			return true, "server exited"
		}
		return false, ""
	}
	conn, err := waitConn(ctx, url, gone)
	if err != nil {
		if stopped {
			return false, nil
		}
		return false, fmt.Errorf("postgres (pid %d) is running in %s but not answering on %s: %w%s",
			pf.pid, c.dataDir, c.sockDir, err, formatLogTail(c.logPath, readLogTail(root, 0)))
	}
	defer conn.Close(context.Background())
	var dataDir, listen string
	if err := conn.QueryRow(ctx, "SELECT current_setting('data_directory'), current_setting('listen_addresses')").Scan(&dataDir, &listen); err != nil {
		return false, fmt.Errorf("inspecting running postgres in %s: %w", c.dataDir, err)
	}
	if !sameDir(dataDir, c.dataDir) {
		return false, fmt.Errorf("the server answering on %s serves %s, not %s", c.sockDir, dataDir, c.dataDir)
	}
	c.port = port
	c.tcp = listen != ""
	return true, nil
}

// sameDir reports whether a and b name the same directory.
func sameDir(a, b string) bool {
	if ra, err := filepath.EvalSymlinks(a); err == nil {
		a = ra
	}
	if rb, err := filepath.EvalSymlinks(b); err == nil {
		b = rb
	}
	return filepath.Clean(a) == filepath.Clean(b)
}

// ensureDatabase creates opts.Database if it does not exist.
func (c *Cluster) ensureDatabase(ctx context.Context) error {
	if c.opts.Database == "" {
		return nil
	}
	return c.createDatabase(ctx, c.port, c.opts.Database) // c.mu is held
}

// EnsureDatabase creates the database name if it does not exist, on a
// connection of its own. For a caller that leaves Options.Database empty
// to save that connection on every Start, and calls this when its own
// connection finds the database missing.
func (c *Cluster) EnsureDatabase(ctx context.Context, name string) error {
	return c.createDatabase(ctx, c.Port(), name)
}

// createDatabase is EnsureDatabase on the server's port.
func (c *Cluster) createDatabase(ctx context.Context, port int, name string) error {
	conn, err := connect(ctx, socketURL(c.sockDir, port, "postgres"))
	if err != nil {
		return fmt.Errorf("creating database %q: %w", name, err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("checking for database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	// Made meanwhile by another process: CREATE DATABASE checks the name
	// first (duplicate_database), and a creation racing its own past that
	// check fails on pg_database's unique index (unique_violation).
	if errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505") {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("creating database %q: %w", name, err)
	}
	return nil
}
