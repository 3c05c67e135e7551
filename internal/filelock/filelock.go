// Package filelock takes exclusive flock(2) locks on open files: one
// process at a time holds a directory's lock file. A lock belongs to the
// open file description, so two goroutines of one process that each open
// the file exclude each other as two processes do; it is released when
// the file is closed, or the process ends.
package filelock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// pollInterval is how often a blocked Lock tries again.
const pollInterval = 50 * time.Millisecond

// ErrHeld means another holds the lock.
var ErrHeld = errors.New("held by another")

// TryLock takes an exclusive lock on f at once, or fails (ErrHeld when
// another holds it), leaving f open. unlock releases the lock and closes f.
func TryLock(f *os.File) (unlock func(), err error) {
	fd := int(f.Fd())
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return func() {
				_ = syscall.Flock(fd, syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return nil, fmt.Errorf("locking %s: %w", f.Name(), ErrHeld)
		}
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
}

// Lock takes an exclusive lock on f, waiting until ctx is done. unlock
// releases the lock and closes f; Lock closes f when it fails.
func Lock(ctx context.Context, f *os.File) (unlock func(), err error) {
	for {
		unlock, err := TryLock(f)
		if err == nil {
			return unlock, nil
		}
		if !errors.Is(err, ErrHeld) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for lock %s held by another: %w", f.Name(), ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}
