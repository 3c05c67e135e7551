package filelock_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/layerq/layerq/internal/filelock"
)

// Two opens of one lock file exclude each other, in one process as in
// two: the second fails at once (TryLock) or waits for the first
// (Lock), and a wait ends with its context.
func TestOneHolderAtATime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	open := func() *os.File {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	unlock, err := filelock.TryLock(open())
	if err != nil {
		t.Fatal(err)
	}
	second := open()
	if _, err := filelock.TryLock(second); !errors.Is(err, filelock.ErrHeld) {
		t.Fatalf("a second TryLock: %v, want ErrHeld", err)
	}
	second.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if _, err := filelock.Lock(ctx, open()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while held: %v, want the context's deadline", err)
	}
	var releasing atomic.Bool
	go func() {
		time.Sleep(100 * time.Millisecond)
		releasing.Store(true)
		unlock()
	}()
	unlock2, err := filelock.Lock(context.Background(), open())
	if err != nil {
		t.Fatal(err)
	}
	if !releasing.Load() {
		t.Fatal("Lock returned before the holder released the lock")
	}
	unlock2()
}
