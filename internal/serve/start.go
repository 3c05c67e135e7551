package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/filelock"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/stream"
)

// startWait bounds how long serve waits for a dependency at start.
const startWait = 5 * time.Minute

// WaitFor calls try until it succeeds, an error is not worth waiting for
// (retryable says; nil: every error is), five minutes pass, or ctx ends,
// pausing 1 s, 2 s … 10 s between tries and saying so on log: a serve
// process may start before Postgres or NATS is up, or while it restarts.
func WaitFor[T any](ctx context.Context, log *slog.Logger, what string, try func() (T, error), retryable func(error) bool) (T, error) {
	deadline := time.Now().Add(startWait)
	pause := time.Second
	for {
		v, err := try()
		if err == nil || ctx.Err() != nil || (retryable != nil && !retryable(err)) || time.Now().After(deadline) {
			return v, err
		}
		log.Warn("waiting for "+what, "err", err, "retry_in", pause)
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(pause):
		}
		pause = min(2*pause, 10*time.Second)
	}
}

// EmbeddedNATS starts the in-process JetStream server with its store in
// dir and connects to it; stop drains the connection and shuts the server
// down. dir is private (0700); its parent is the data directory, made as
// database.EnsureDataDir makes it.
func EmbeddedNATS(dir string, opts []nats.Option) (nc *nats.Conn, stop func(), err error) {
	if err := database.EnsureDataDir(filepath.Dir(dir)); err != nil {
		return nil, nil, err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, nil, err
	}
	unlock, err := lockStore(dir)
	if err != nil {
		return nil, nil, err
	}
	s, err := stream.StartEmbedded(stream.EmbeddedOptions{StoreDir: dir})
	if err != nil {
		unlock()
		return nil, nil, err
	}
	nc, err = nats.Connect("", append(opts, stream.InProcess(s))...)
	if err != nil {
		s.Shutdown()
		s.WaitForShutdown()
		unlock()
		return nil, nil, err
	}
	return nc, func() { nc.Drain(); s.Shutdown(); s.WaitForShutdown(); unlock() }, nil
}

// lockStore takes the embedded store in dir for this process, or says
// which process has it: two JetStream servers on one store would write
// the same files, and each would take the other's events.
func lockStore(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, "serve.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking the embedded NATS store: %w", err)
	}
	unlock, err = filelock.TryLock(f)
	if err != nil {
		f.Close()
		if !errors.Is(err, filelock.ErrHeld) {
			return nil, fmt.Errorf("locking the embedded NATS store: %w", err)
		}
		holder, _ := os.ReadFile(path)
		who := "another process"
		if pid := strings.TrimSpace(string(holder)); pid != "" {
			who = "process " + pid
		}
		return nil, fmt.Errorf("the embedded NATS store in %s is in use by %s (a layerq-ingest serve on the same data directory): run one serve per --data-dir, or share a NATS server between them with --nats-url", dir, who)
	}
	// Who holds it, for the next one's error; the lock is what counts.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return unlock, nil
}

// analyzeWaste stores the waste of images whose layers are all indexed,
// every interval (at once again while a batch comes back full), until ctx
// ends.
func analyzeWaste(ctx context.Context, db report.DB, store *graph.Store, every time.Duration, log *slog.Logger) {
	const batch = 200
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		ws, err := report.PendingWaste(ctx, db, batch)
		if err == nil {
			err = store.SaveWaste(ctx, ws)
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("image waste", "error", err)
		}
		if err == nil && len(ws) == batch {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
