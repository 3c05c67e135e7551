package pglaunch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockPollInterval is how often a blocked lockFile retries.
const lockPollInterval = 50 * time.Millisecond

// lockFile takes an exclusive flock(2) on f, waiting until ctx is done. The
// lock is released, and f closed, by unlock, or by lockFile itself when it
// fails. flock locks belong to the open file description, so two goroutines
// of one process exclude each other as two processes do. Files opened by
// os.Root are close-on-exec, so the server never inherits the lock.
func lockFile(ctx context.Context, f *os.File) (unlock func(), err error) {
	fd := int(f.Fd())
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(fd, syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for lock %s held by another Start: %w", f.Name(), ctx.Err())
		case <-time.After(lockPollInterval):
		}
	}
}
