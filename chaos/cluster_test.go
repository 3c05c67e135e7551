package chaos_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/promtest"
)

// clusterSettings size the cluster run: LAYERQ_CLUSTER_IMAGES images
// (default 120), faults spread over LAYERQ_CLUSTER_SECONDS (default 20).
// `go tool task cluster` runs a longer one.
func clusterSettings() (images int, faults time.Duration) {
	return sized("LAYERQ_CLUSTER", 120, 20*time.Second)
}

// streamLeader is the nats-server (of r's, n1, n2, n3) leading the events
// stream, and its name; nil when none answers.
func streamLeader(r *rig) (*proc, string) {
	nc, err := nats.Connect(r.natsURL, nats.Timeout(time.Second))
	if err != nil {
		return nil, ""
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream.Name)
	if err != nil {
		return nil, ""
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		return nil, ""
	}
	for i, p := range r.nats {
		if info.Cluster.Leader == fmt.Sprintf("n%d", i+1) {
			return p, info.Cluster.Leader
		}
	}
	return nil, ""
}

// runCluster pushes the corpus to a rig of three clustered nats-servers
// (streams with 3 replicas), two receivers the registry notifies both of
// (every event arrives twice), three workers each given another node (one
// of them scanning layers), and a Postgres primary with a synchronous
// standby; meanwhile it SIGKILLs the events stream's leader (restarted
// after a while), a receiver and a worker, and the Postgres primary,
// promoting the standby. It returns the graph as rows.
func runCluster(t *testing.T, b binaries, c corpus, faultFor time.Duration) map[string][]string {
	pg := pgtest.NewPair(t)
	r := newRig(t, b, pg.URL, rigOptions{workers: 3, natsNodes: 3, receivers: 2, oneLayerScanner: true})
	r.start()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	// The faults, in order, spread over the pushes.
	var faults sync.WaitGroup
	stopFaults := make(chan struct{})
	defer func() { close(stopFaults); faults.Wait() }()
	var happened []string
	var mu sync.Mutex
	note := func(f string, args ...any) {
		mu.Lock()
		happened = append(happened, fmt.Sprintf(f, args...))
		mu.Unlock()
	}
	faults.Add(1)
	go func() {
		defer faults.Done()
		at := func(d time.Duration) bool {
			select {
			case <-stopFaults:
				return false
			case <-time.After(d):
				return true
			}
		}
		step := faultFor / 5
		if !at(step) {
			return
		}
		if p, name := streamLeader(r); p != nil {
			p.kill()
			note("SIGKILL nats-server %s (the events stream's leader)", name)
			if at(step / 2) {
				p.start()
			}
		}
		if !at(step / 2) {
			return
		}
		r.receivers[0].kill()
		note("SIGKILL receiver 1")
		if at(2 * time.Second) {
			r.receivers[0].start()
		}
		if !at(step) {
			return
		}
		r.workers[1].kill()
		note("SIGKILL worker 2")
		r.workers[1].start()
		if !at(step) {
			return
		}
		began := time.Now()
		if err := pg.Primary.Kill(); err != nil {
			t.Errorf("killing the Postgres primary: %v", err)
			return
		}
		time.Sleep(time.Second) // a failover takes a moment to decide
		if err := pg.Standby.Promote(context.Background()); err != nil {
			t.Errorf("promoting the standby: %v", err)
			return
		}
		note("SIGKILL the Postgres primary, standby promoted after %s", time.Since(began).Round(100*time.Millisecond))
	}()

	start := time.Now()
	window := faultFor
	pace := func(i int) {
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * window / time.Duration(len(c.images)))))
	}
	extraTags := pushAll(t, r, c, pace)
	quiesce(t, r, pool, pushedCond(c, extraTags))
	deleteAll(t, r, c)
	quiesce(t, r, pool, deletedCond(c, extraTags))
	mu.Lock()
	t.Logf("cluster: %d images in %s; %q", len(c.images), time.Since(start).Round(time.Second), happened)
	if len(happened) != 4 {
		t.Errorf("the faults did not all happen: %q", happened)
	}
	mu.Unlock()
	// The writes went to the promoted standby, on its own.
	var port int
	var inRecovery bool
	if err := pool.QueryRow(ctx, "SELECT inet_server_port(), pg_is_in_recovery()").Scan(&port, &inRecovery); err != nil || inRecovery || port != pg.Standby.Port() {
		t.Errorf("after the failover the pool reaches port %d (in recovery: %v, %v), want the promoted standby's %d", port, inRecovery, err, pg.Standby.Port())
	}
	// The streams were replicated on the three nodes, and each event came
	// to both receivers: one stored it, the other's was a duplicate.
	nc, err := nats.Connect(r.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	for _, name := range []string{stream.Name, stream.LayersName, stream.DeferredName, stream.QuarantineName} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil || info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			t.Errorf("stream %s: %+v (%v), want 3 replicas", name, info, err)
		}
	}
	nc.Close()
	var stored, duplicates float64
	for _, p := range r.receivers {
		resp, err := http.Get("http://" + p.listen() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, m := range promtest.Families(t, body)["layerq_events_published_total"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == "stored" {
					stored += m.GetCounter().GetValue()
				}
				if l.GetName() == "result" && l.GetValue() == "duplicate" {
					duplicates += m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Logf("cluster: the receivers stored %.0f events and found %.0f already stored (counted since each last started)", stored, duplicates)
	if duplicates < float64(len(c.images))/2 {
		t.Errorf("the receivers found %.0f events stored already, want most of the %d pushes' (each came to both)", duplicates, len(c.images))
	}
	if _, err := graph.New(pool).ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	rows := dump(t, pool)
	for _, p := range r.all() {
		p.stop()
	}
	return rows
}

// Scale-out on the engines users run: a JetStream cluster of three with
// replicated streams, two receivers each notified of every event, three
// workers on different nodes, and a Postgres primary with a synchronous
// standby, under node loss (the stream leader, a receiver, a worker, the
// Postgres primary). The graph ends up row for row as a fault-free
// single-node run of the same pushes leaves it, no event applied twice.
func TestCluster(t *testing.T) {
	images, faultFor := clusterSettings()
	b := build(t)
	c := makeCorpus(t, images)
	clean, _ := run(t, b, c, false, 0)
	checkClean(t, clean, images)
	clustered := runCluster(t, b, c, faultFor)
	if d := clustered["events applied twice"]; !slices.Equal(d, []string{"0"}) {
		t.Errorf("events applied twice: %q", d)
	}
	compareGraphs(t, clean, clustered)
}
