package layerindex

import (
	"context"
	"errors"
	"testing"
	"time"
)

// acquireAsync acquires from g on its own goroutine; the channel says when
// (with the error).
func acquireAsync(ctx context.Context, g *connGate) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- g.acquire(ctx) }()
	return ch
}

// within waits up to d for ch; false if nothing came.
func within(ch <-chan error, d time.Duration) (error, bool) {
	select {
	case err := <-ch:
		return err, true
	case <-time.After(d):
		return nil, false
	}
}

func TestConnGateStartsWithOne(t *testing.T) {
	ctx := context.Background()
	g := newConnGate(4, time.Hour)
	if err := g.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	second := acquireAsync(ctx, g)
	if _, ok := within(second, 200*time.Millisecond); ok {
		t.Fatal("a second layer got a connection while the only one was in use and its wait was far below the price")
	}
	g.release()
	if err, ok := within(second, 5*time.Second); !ok || err != nil {
		t.Fatalf("the second layer did not get the released connection: %v, %v", err, ok)
	}
	if n := g.opened(); n != 1 {
		t.Fatalf("opened %d connections, want 1", n)
	}
}

func TestConnGateGrowsAsTheWaitsAddUp(t *testing.T) {
	ctx := context.Background()
	const price = 120 * time.Millisecond
	g := newConnGate(3, price)
	if err := g.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	b, c := acquireAsync(ctx, g), acquireAsync(ctx, g)
	// Two waiting: their waits reach the price together after half of it;
	// one of them opens the second connection, the other waits on alone
	// for a whole price more, then opens the third.
	first := make([]time.Duration, 0, 2)
	for range 2 {
		select {
		case err := <-b:
			if err != nil {
				t.Fatal(err)
			}
			b = nil
		case err := <-c:
			if err != nil {
				t.Fatal(err)
			}
			c = nil
		case <-time.After(10 * time.Second):
			t.Fatalf("after 10 s with one connection in use, %d of 2 waiting layers had one (opened %d)", len(first), g.opened())
		}
		first = append(first, time.Since(began))
	}
	if first[0] < price/2 {
		t.Errorf("the second connection opened after %v, before the two waits added up to %v", first[0], price)
	}
	if first[1]-first[0] < price*9/10 {
		t.Errorf("the third connection opened %v after the second, before the lone wait reached %v", first[1]-first[0], price)
	}
	if n := g.opened(); n != 3 {
		t.Fatalf("opened %d connections, want 3", n)
	}
	// No more than most: a fourth waits for a release however long.
	d := acquireAsync(ctx, g)
	if _, ok := within(d, 3*price); ok {
		t.Fatal("a fourth layer got a connection beyond the three the gate may open")
	}
	g.release()
	if err, ok := within(d, 5*time.Second); !ok || err != nil {
		t.Fatalf("the fourth layer did not get a released connection: %v, %v", err, ok)
	}
	if n := g.opened(); n != 3 {
		t.Fatalf("opened %d connections, want 3", n)
	}
}

func TestConnGateWaitEndedCounts(t *testing.T) {
	// Waits that ended count towards the price: of three waits of 60 ms
	// each, ended by a release, the third opens the second connection when
	// the three add up to 150 ms.
	ctx := context.Background()
	const price = 150 * time.Millisecond
	g := newConnGate(2, price)
	if err := g.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		w := acquireAsync(ctx, g)
		time.Sleep(60 * time.Millisecond)
		g.release()
		if err, ok := within(w, 5*time.Second); !ok || err != nil {
			t.Fatalf("%v, %v", err, ok)
		}
	}
	if n := g.opened(); n != 2 {
		t.Fatalf("after 180 ms of waits ended, against a price of %v: opened %d connections, want 2", price, n)
	}
}

func TestConnGateAllAtOnce(t *testing.T) {
	ctx := context.Background()
	g := newConnGate(3, -1)
	for i := range 3 {
		if err, ok := within(acquireAsync(ctx, g), time.Second); !ok || err != nil {
			t.Fatalf("acquire %d with every connection open: %v, %v", i, err, ok)
		}
	}
	if _, ok := within(acquireAsync(ctx, g), 200*time.Millisecond); ok {
		t.Fatal("a fourth acquire succeeded with three connections in use")
	}
}

func TestConnGateCancelled(t *testing.T) {
	g := newConnGate(2, time.Hour)
	if err := g.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := acquireAsync(ctx, g)
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err, ok := within(w, 5*time.Second); !ok || !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled wait returned %v, %v; want context.Canceled", err, ok)
	}
	g.mu.Lock()
	waiting, starts := g.waiting, g.starts
	g.mu.Unlock()
	if waiting != 0 || starts != 0 {
		t.Fatalf("after a cancelled wait: %d waiting, starts %v; want none", waiting, starts)
	}
	// The connection in use is still the only one, and still given back.
	g.release()
	if err, ok := within(acquireAsync(context.Background(), g), time.Second); !ok || err != nil {
		t.Fatalf("%v, %v", err, ok)
	}
}
