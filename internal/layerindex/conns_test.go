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

// gets fails t unless the acquire ch reports succeeds within 5 s.
func gets(t *testing.T, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no connection after 5 s", what)
	}
}

// waits fails t if the acquire ch reports succeeds within d.
func waits(t *testing.T, ch <-chan error, d time.Duration, what string) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s (err %v)", what, err)
	case <-time.After(d):
	}
}

// held is a gate that may open most connections at price, its first in
// use.
func held(t *testing.T, most int, price time.Duration) *connGate {
	t.Helper()
	g := newConnGate(most, price)
	if err := g.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	return g
}

// wantOpened fails t unless g has opened n connections.
func wantOpened(t *testing.T, g *connGate, n int) {
	t.Helper()
	if got := g.opened(); got != n {
		t.Fatalf("opened %d connections, want %d", got, n)
	}
}

func TestConnGateStartsWithOne(t *testing.T) {
	ctx := context.Background()
	g := held(t, 4, time.Hour)
	second := acquireAsync(ctx, g)
	waits(t, second, 200*time.Millisecond, "a second layer got a connection while the only one was in use and its wait was far below the price")
	g.release()
	gets(t, second, "the second layer, once the connection was released")
	wantOpened(t, g, 1)
}

func TestConnGateGrowsAsTheWaitsAddUp(t *testing.T) {
	ctx := context.Background()
	const price = 120 * time.Millisecond
	g := held(t, 3, price)
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
	// Lower bounds only (a busy machine delays what follows): the second
	// at half the price at the soonest, the third a whole price after it.
	if first[0] < price/2 {
		t.Errorf("the second connection opened after %v, before the two waits added up to %v", first[0], price)
	}
	if first[1] < price*3/2 {
		t.Errorf("the third connection opened after %v, before the lone wait after the second reached %v", first[1], price)
	}
	wantOpened(t, g, 3)
	// No more than most: a fourth waits for a release however long.
	d := acquireAsync(ctx, g)
	waits(t, d, 3*price, "a fourth layer got a connection beyond the three the gate may open")
	g.release()
	gets(t, d, "the fourth layer, once a connection was released")
	wantOpened(t, g, 3)
}

func TestConnGateWaitEndedCounts(t *testing.T) {
	// Waits that ended count towards the price: of three waits of 60 ms
	// each, ended by a release, the third opens the second connection when
	// the three add up to 150 ms.
	ctx := context.Background()
	const price = 150 * time.Millisecond
	g := held(t, 2, price)
	for range 3 {
		w := acquireAsync(ctx, g)
		time.Sleep(60 * time.Millisecond)
		g.release()
		gets(t, w, "a layer, once the connection was released")
	}
	if n := g.opened(); n != 2 {
		t.Fatalf("after 180 ms of waits ended, against a price of %v: opened %d connections, want 2", price, n)
	}
}

func TestConnGateAllAtOnce(t *testing.T) {
	ctx := context.Background()
	g := newConnGate(3, -1)
	for range 3 {
		gets(t, acquireAsync(ctx, g), "an acquire with every connection open from the start")
	}
	waits(t, acquireAsync(ctx, g), 200*time.Millisecond, "a fourth acquire succeeded with three connections in use")
}

func TestConnGateCancelled(t *testing.T) {
	g := held(t, 2, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	w := acquireAsync(ctx, g)
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-w:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("a cancelled wait returned %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled wait had not returned after 5 s")
	}
	g.mu.Lock()
	waiting, starts := g.waiting, g.starts
	g.mu.Unlock()
	if waiting != 0 || starts != 0 {
		t.Fatalf("after a cancelled wait: %d waiting, starts %v; want none", waiting, starts)
	}
	// The connection in use is still the only one, and still given back.
	g.release()
	gets(t, acquireAsync(context.Background(), g), "a layer after a cancelled wait, once the connection was released")
}
