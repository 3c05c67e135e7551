package chaos_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

// peakRSS is the process's peak resident set (VmHWM), in KiB.
func (p *proc) peakRSS() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkWorkers measures the scale-out of worker processes. A receiver
// stores LAYERQ_BENCH_EVENTS push events (default 300) from the real
// distribution registry while no worker runs; then 1, 2 or 4 worker
// processes (each --workers 2, no layer scanning) drain the stream,
// fetching every manifest and config through a proxy that adds
// LAYERQ_BENCH_LATENCY_MS (default 20) to each registry request, as a
// registry across a network would. events/s is the events over the drain;
// scale-2w and scale-4w are the ratios to one worker, in the same run.
// nats=1 runs one nats-server; nats=3 a cluster of three with every
// stream replicated 3 times (each worker given another node), and
// r3-vs-1 is its 1-worker rate over nats=1's, measured in the same run.
func BenchmarkWorkers(b *testing.B) {
	n := envInt("LAYERQ_BENCH_EVENTS", 300)
	latency := time.Duration(envInt("LAYERQ_BENCH_LATENCY_MS", 20)) * time.Millisecond
	bins := build(b)
	c := makeCorpus(b, n)
	single := map[int]float64{}
	for _, nodes := range []int{1, 3} {
		b.Run(fmt.Sprintf("nats=%d", nodes), func(b *testing.B) {
			rates := map[int][]float64{}
			var peak int64
			for range b.N {
				for _, w := range []int{1, 2, 4} {
					rate, rss := drain(b, bins, c, w, nodes, latency)
					rates[w] = append(rates[w], rate)
					peak = max(peak, rss)
				}
			}
			med := func(w int) float64 { return median(rates[w]) }
			b.ReportMetric(med(1), "events/s-1w")
			b.ReportMetric(med(2), "events/s-2w")
			b.ReportMetric(med(4), "events/s-4w")
			b.ReportMetric(med(2)/med(1), "scale-2w")
			b.ReportMetric(med(4)/med(1), "scale-4w")
			b.ReportMetric(float64(peak)/1024, "worker-peak-RSS-MiB")
			if nodes == 1 {
				for w := range rates {
					single[w] = med(w)
				}
			} else if single[1] > 0 {
				b.ReportMetric(med(1)/single[1], "r3-vs-1")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// drain stores the corpus's pushes on the stream, then times workers
// worker processes applying them all; it returns events/s and the
// workers' largest peak RSS in KiB.
func drain(b *testing.B, bins binaries, c corpus, workers, natsNodes int, latency time.Duration) (float64, int64) {
	b.StopTimer()
	defer b.StartTimer()
	dbURL := pgtest.NewDatabase(b)
	r := newRig(b, bins, dbURL, rigOptions{workers: workers, natsNodes: natsNodes, workerArgs: []string{"--workers", "2", "--no-layer-scan"}})
	r.proxy.latency.Store(int64(latency))
	r.startWith(0)
	defer func() {
		for _, p := range r.all() {
			p.stop()
		}
	}()
	for i, img := range c.images {
		push(b, r.regHost, c.repos[i]+":1", img)
	}
	ctx := context.Background()
	pending := func() (uint64, uint64) {
		nc, err := nats.Connect(r.natsURL)
		if err != nil {
			return 0, 0
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		cons, err := js.Consumer(ctx, stream.Name, stream.Consumer)
		if err != nil {
			return 0, 0
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return 0, 0
		}
		return info.NumPending, uint64(info.NumAckPending)
	}
	waitFor(b, "every push on the stream", 2*time.Minute, func() bool { p, _ := pending(); return p == uint64(len(c.images)) })
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	start := time.Now()
	for _, w := range r.workers {
		w.start()
	}
	var peak int64
	waitFor(b, "the stream drained into the graph", 5*time.Minute, func() bool {
		for _, w := range r.workers {
			peak = max(peak, w.peakRSS())
		}
		var tags int
		pool.QueryRow(ctx, `SELECT count(*) FROM tags`).Scan(&tags)
		if tags != len(c.images) {
			return false
		}
		p, a := pending()
		return p == 0 && a == 0
	})
	return float64(len(c.images)) / time.Since(start).Seconds(), peak
}

// BenchmarkFailover measures the stall node loss causes on the live path
// as deployed for scale-out (TestCluster's rig: three clustered
// nats-servers with R3 streams, two receivers the registry notifies, two
// workers, a Postgres primary with a synchronous standby). Images are
// pushed at LAYERQ_BENCH_RATE per second (default 10) for
// LAYERQ_BENCH_SECONDS (default 30); a third of the way in the events
// stream's leader is SIGKILLed (and restarted 5 s later), two thirds in the
// Postgres primary, the standby promoted a second later. Each push's
// latency runs from the start of the push to its tag in the graph (polled
// every 20 ms); p50 and p99 are over every push, and leader-max and
// failover-max the longest of the pushes begun within 5 s after each fault.
func BenchmarkFailover(b *testing.B) {
	rate, seconds := envInt("LAYERQ_BENCH_RATE", 10), envInt("LAYERQ_BENCH_SECONDS", 30)
	bins := build(b)
	c := makeCorpus(b, rate*seconds)
	var p50s, p99s, leaderMax, failoverMax []float64
	for range b.N {
		b.StopTimer()
		lat, leader, failover := failoverRun(b, bins, c, rate)
		slices.Sort(lat)
		p50s = append(p50s, lat[len(lat)/2])
		p99s = append(p99s, lat[len(lat)*99/100])
		leaderMax, failoverMax = append(leaderMax, leader), append(failoverMax, failover)
		b.StartTimer()
	}
	b.ReportMetric(median(p50s), "p50-ms")
	b.ReportMetric(median(p99s), "p99-ms")
	b.ReportMetric(median(leaderMax), "leader-loss-max-ms")
	b.ReportMetric(median(failoverMax), "failover-max-ms")
	b.ReportMetric(0, "ns/op")
}

func failoverRun(b *testing.B, bins binaries, c corpus, rate int) (lat []float64, leaderMax, failoverMax float64) {
	pg := pgtest.NewPair(b)
	r := newRig(b, bins, pg.URL, rigOptions{workers: 2, natsNodes: 3, receivers: 2, workerArgs: []string{"--workers", "4", "--no-layer-scan"}})
	r.start()
	defer func() {
		for _, p := range r.all() {
			p.stop()
		}
	}()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pg.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	n := len(c.images)
	began := make([]time.Time, n)
	seen := make([]time.Time, n)
	var mu sync.Mutex
	stopPoll := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		index := map[string]int{}
		for i, repo := range c.repos {
			index[repo] = i
		}
		for {
			select {
			case <-stopPoll:
				return
			case <-time.After(20 * time.Millisecond):
			}
			rows, err := pool.Query(ctx, `SELECT r.name FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE t.name = '1'`)
			if err != nil {
				continue // the failover: the pool finds the new primary
			}
			now := time.Now()
			mu.Lock()
			for rows.Next() {
				var name string
				rows.Scan(&name)
				if i, ok := index[name]; ok && seen[i].IsZero() {
					seen[i] = now
				}
			}
			mu.Unlock()
			rows.Close()
		}
	}()
	start := time.Now()
	leaderAt, failoverAt := start.Add(time.Duration(n/3)*time.Second/time.Duration(rate)), start.Add(time.Duration(2*n/3)*time.Second/time.Duration(rate))
	faults := make(chan struct{})
	go func() {
		defer close(faults)
		time.Sleep(time.Until(leaderAt))
		if p, _ := streamLeader(r); p != nil {
			p.kill()
			time.AfterFunc(5*time.Second, p.start)
		} else {
			b.Error("no leader of the events stream to kill")
		}
		time.Sleep(time.Until(failoverAt))
		if err := pg.Primary.Kill(); err != nil {
			b.Error(err)
			return
		}
		time.Sleep(time.Second)
		if err := pg.Standby.Promote(context.Background()); err != nil {
			b.Error(err)
		}
	}()
	for i, img := range c.images {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
		mu.Lock()
		began[i] = time.Now()
		mu.Unlock()
		push(b, r.regHost, c.repos[i]+":1", img)
	}
	<-faults
	waitFor(b, "every push in the graph", 3*time.Minute, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range seen {
			if s.IsZero() {
				return false
			}
		}
		return true
	})
	close(stopPoll)
	<-polled
	for i := range n {
		ms := float64(seen[i].Sub(began[i]).Microseconds()) / 1000
		lat = append(lat, ms)
		if d := began[i].Sub(leaderAt); d >= 0 && d < 5*time.Second {
			leaderMax = max(leaderMax, ms)
		}
		if d := began[i].Sub(failoverAt); d >= 0 && d < 5*time.Second {
			failoverMax = max(failoverMax, ms)
		}
	}
	return lat, leaderMax, failoverMax
}
