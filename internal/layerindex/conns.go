package layerindex

import (
	"context"
	"sync"
	"time"
)

// DefaultConnPrice is how long a run's layers wait for the database, in
// all, before the run lets one more of them use it at a time
// (Indexer.ConnPrice). A new Postgres backend costs the server CPU before
// it is of use, its fork and then its catalog caches and plans made anew
// at the first use of each statement: on the benchmark host, BenchmarkRun's
// one-image run of 13 layers took 170 ms of Postgres CPU and 145 ms with a
// connection per job (three of them new), 30 ms and 69 ms this way. The
// layers wait together: with four jobs waiting, this is under 40 ms of the
// run.
const DefaultConnPrice = 150 * time.Millisecond

// connGate lets a run's layers use the database one at a time at first,
// and one more at a time, up to most, each time they have waited as long
// in all as a new connection costs. The pool opens a connection only when
// all it has are in use, so a small run (an image or a few pushes) writes
// through one warm backend instead of a new one per layer job, while a
// run whose writes keep one connection busy soon has several.
type connGate struct {
	price time.Duration
	most  int
	slots chan struct{} // a token per usable connection not in use
	epoch time.Time

	mu      sync.Mutex
	open    int           // connections the run may use
	waited  time.Duration // waits ended since the last one opened
	waiting int           // layers waiting now
	starts  time.Duration // the sum of their waits' starts (since epoch), none before the last opening
	grown   time.Duration // when the last one opened (since epoch)
}

// newConnGate is a gate of one connection that may grow to most (at least
// 1). A price of zero or less opens every one at once.
func newConnGate(most int, price time.Duration) *connGate {
	most = max(most, 1)
	g := &connGate{price: price, most: most, slots: make(chan struct{}, most), epoch: time.Now(), open: 1}
	if price <= 0 {
		g.open = most
	}
	for range g.open {
		g.slots <- struct{}{}
	}
	return g
}

// acquire waits for a connection the run may use, and opens another when
// the waits add up to its price. The caller releases it.
func (g *connGate) acquire(ctx context.Context) error {
	g.mu.Lock()
	start := time.Since(g.epoch)
	g.waiting++
	g.starts += start
	g.mu.Unlock()
	for {
		// A connection not in use, or given back meanwhile, is taken
		// before one is opened.
		select {
		case <-g.slots:
			g.took(start)
			return nil
		default:
		}
		g.mu.Lock()
		now := time.Since(g.epoch)
		if g.mayGrow(now) {
			// This wait tips the balance: the new connection is its.
			g.grow(now)
			g.leave(start, now)
			g.mu.Unlock()
			return nil
		}
		var timer *time.Timer
		var timeout <-chan time.Time
		if g.open < g.most {
			// When the waits add up, if nothing else happens first (a
			// price of hours is looked at again every hour).
			timer = time.NewTimer(min((g.price-g.total(now))/time.Duration(g.waiting), time.Hour) + time.Millisecond)
			timeout = timer.C
		}
		g.mu.Unlock()
		select {
		case <-g.slots:
			stopTimer(timer)
			g.took(start)
			return nil
		case <-timeout:
		case <-ctx.Done():
			stopTimer(timer)
			g.mu.Lock()
			g.leave(start, time.Since(g.epoch))
			g.mu.Unlock()
			return ctx.Err()
		}
	}
}

// took ends the wait that began at start with a connection in use that was
// given back; when the waits have added up meanwhile, it opens the next
// for whoever asks.
func (g *connGate) took(start time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Since(g.epoch)
	g.leave(start, now)
	if g.mayGrow(now) {
		g.grow(now)
		g.slots <- struct{}{}
	}
}

// release gives back a connection acquire gave.
func (g *connGate) release() { g.slots <- struct{}{} }

// opened is how many connections the run may use now.
func (g *connGate) opened() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open
}

// total is what the layers have waited since the last opening, at now.
func (g *connGate) total(now time.Duration) time.Duration {
	return g.waited + time.Duration(g.waiting)*now - g.starts
}

func (g *connGate) mayGrow(now time.Duration) bool {
	return g.open < g.most && g.total(now) >= g.price
}

// grow opens one more connection: what was waited is spent on it.
func (g *connGate) grow(now time.Duration) {
	g.open++
	g.waited = 0
	g.grown = now
	g.starts = time.Duration(g.waiting) * now
}

// leave ends the wait that began at start.
func (g *connGate) leave(start, now time.Duration) {
	from := max(start, g.grown)
	g.waited += now - from
	g.waiting--
	g.starts -= from
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

// do runs fn through one of the gate's connections; through any the pool
// gives when g is nil.
func (g *connGate) do(ctx context.Context, fn func() error) error {
	if g == nil {
		return fn()
	}
	if err := g.acquire(ctx); err != nil {
		return err
	}
	defer g.release()
	return fn()
}
