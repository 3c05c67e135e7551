package pglaunch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// StopRunning stops the server running in the cluster dir dir, started by a
// Persistent Start in this process or another, and reports whether one was
// running. Unlike Start followed by Stop it never starts a server, and it
// creates nothing. If ctx has no deadline, StopRunning waits at most 30
// seconds.
func StopRunning(ctx context.Context, dir string) (bool, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false, fmt.Errorf("resolving cluster dir %s: %w", dir, err)
	}
	dataDir := filepath.Join(dir, "data")
	u := currentUser()
	if os.Geteuid() == 0 {
		var ok bool
		if u, ok = dataDirOwner(dataDir); !ok {
			return false, nil // PostgreSQL runs only as the owner of its data dir
		}
	}
	c := &Cluster{
		opts:    Options{Dir: dir, Persistent: true},
		user:    u,
		dataDir: dataDir,
		sockDir: filepath.Join(dir, "sock"),
		logPath: filepath.Join(dir, "server.log"),
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopServer(ctx)
}

// stopLocked performs Stop; c.mu must be held.
func (c *Cluster) stopLocked(ctx context.Context) error {
	if ch := c.child; ch != nil {
		c.child = nil
		if err := ch.proc.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("stopping postgres in %s: %w", c.dataDir, err)
		}
		select {
		case <-ch.exited:
			return nil
		case <-ctx.Done():
			_ = ch.proc.Kill()
			<-ch.exited
			return fmt.Errorf("stopping postgres in %s: fast shutdown did not finish (%w); killed it", c.dataDir, ctx.Err())
		}
	}
	// Not our child: a reused server, or one started by another process.
	_, err := c.stopServer(ctx)
	return err
}

// stopServer stops the server that data/postmaster.pid names, if it is a
// postgres running as the server user, and reports whether it was running.
func (c *Cluster) stopServer(ctx context.Context) (bool, error) {
	root, err := os.OpenRoot(c.opts.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("opening cluster dir %s: %w", c.opts.Dir, err)
	}
	pf, err := readPIDFile(root)
	root.Close()
	if err != nil || processState(pf.pid) != procPostgres || !c.ownsProcess(pf.pid) {
		return false, nil // not running
	}
	if err := syscall.Kill(pf.pid, syscall.SIGINT); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return false, nil
		}
		return false, fmt.Errorf("stopping postgres (pid %d) in %s: %w", pf.pid, c.dataDir, err)
	}
	for {
		// Done once the process is gone, or a zombie whose parent has not
		// reaped it yet. (Its pid file disappears a moment before that.)
		if processState(pf.pid) != procPostgres {
			return true, nil
		}
		select {
		case <-ctx.Done():
			_ = syscall.Kill(pf.pid, syscall.SIGQUIT) // immediate shutdown
			return true, fmt.Errorf("stopping postgres (pid %d) in %s: fast shutdown did not finish (%w); sent immediate shutdown", pf.pid, c.dataDir, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// ownsProcess reports whether pid runs as the server user. The pid comes
// from a file the server user writes, so pglaunch signals or trusts no
// process of anyone else.
func (c *Cluster) ownsProcess(pid int) bool {
	uid, ok := processOwner(pid)
	return ok && uid == c.user.uid
}

// removeStalePIDFile deletes data/postmaster.pid in the cluster dir root if
// it still names pid.
func removeStalePIDFile(root *os.Root, pid int) error {
	pf, err := readPIDFile(root)
	if err != nil || pf.pid != pid {
		return nil
	}
	name := filepath.Join("data", pidFileName)
	if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing stale %s (pid %d is no longer postgres): %w", filepath.Join(root.Name(), name), pid, err)
	}
	return nil
}
