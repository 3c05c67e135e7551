package pglaunch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

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
	pf, err := readPIDFile(c.dataDir)
	if err != nil || processState(pf.pid) != procPostgres {
		return nil // not running
	}
	if err := syscall.Kill(pf.pid, syscall.SIGINT); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("stopping postgres (pid %d) in %s: %w", pf.pid, c.dataDir, err)
	}
	for {
		// Done once the process is gone, or a zombie whose parent has not
		// reaped it yet. (Its pid file disappears a moment before that.)
		if processState(pf.pid) != procPostgres {
			return nil
		}
		select {
		case <-ctx.Done():
			_ = syscall.Kill(pf.pid, syscall.SIGQUIT) // immediate shutdown
			return fmt.Errorf("stopping postgres (pid %d) in %s: fast shutdown did not finish (%w); sent immediate shutdown", pf.pid, c.dataDir, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// removeStalePIDFile deletes dataDir/postmaster.pid if it still names pid.
func removeStalePIDFile(dataDir string, pid int) error {
	pf, err := readPIDFile(dataDir)
	if err != nil || pf.pid != pid {
		return nil
	}
	path := filepath.Join(dataDir, "postmaster.pid")
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing stale %s (pid %d is no longer postgres): %w", path, pid, err)
	}
	return nil
}
