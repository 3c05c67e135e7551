// Package serve runs layerq-ingest serve: the live path as named stages
// (the webhook receiver, the event worker, the layer consumer, the zot
// bridge, the aggregate folder, the waste analyzer, the reconciler…), built
// from one Config and started and stopped together by one runner. The
// command, the demo and the tests all run it through Run.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/layerq/layerq/internal/alert"
	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/layerindex"
	"github.com/layerq/layerq/internal/layerscan"
	"github.com/layerq/layerq/internal/receiver"
	"github.com/layerq/layerq/internal/registries"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/telemetry"
	"github.com/layerq/layerq/internal/walker"
	"github.com/layerq/layerq/internal/webhook"
	"github.com/layerq/layerq/internal/worker"
)

// The roles a serve process takes.
const (
	RoleAll      = "all"
	RoleReceiver = "receiver"
	RoleWorker   = "worker"
)

// Config is what a serve process runs.
type Config struct {
	// Role is RoleAll, RoleReceiver (webhooks onto the stream) or
	// RoleWorker (the stream into the graph).
	Role     string
	Listener net.Listener
	// MetricsListener, when set, serves /metrics alone (else Metrics is
	// served on Listener).
	MetricsListener net.Listener
	// HTTP bounds what one connection may hold (zero: the defaults).
	HTTP        HTTPLimits
	Registries  *registries.Set
	Credentials map[string]receiver.Credentials
	NoAuth      bool
	NATS        *nats.Conn
	Settings    stream.Settings
	Pool        *database.Pool
	// Workers handle events at once; LayerWorkers scan layer blobs off
	// the layer stream; NoLayerScan stops pushed layers from being queued
	// at all.
	Workers      int
	LayerWorkers int
	NoLayerScan  bool
	LayerLimits  layerscan.Limits
	// ZotSubject, when set, also takes the CloudEvents zot publishes there.
	ZotSubject string
	// Reconcile, when positive, scans every configured registry this often.
	Reconcile time.Duration
	// Alerts, when set, makes alerts of base moves and growth and sends
	// them (worker roles).
	Alerts *Alerts
	Log    *slog.Logger
	// Telemetry receives spans and metrics; Metrics, when set, serves them
	// at GET /metrics.
	Telemetry telemetry.Providers
	Metrics   http.Handler
}

// Alerts is what a worker alerts on and where it sends the alerts: NATS,
// and Webhooks.
type Alerts struct {
	Rules    alert.Rules
	Webhooks []alert.Webhook
}

// stage is one named part of a serve process: run works until ctx ends
// (returning nil) or it fails.
type stage struct {
	name string
	run  func(ctx context.Context) error
}

// runStages starts every stage and stops them together: when one fails,
// the others' context ends, and the error names the stage that failed.
func runStages(ctx context.Context, stages []stage) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, s := range stages {
		g.Go(func() error {
			if err := s.run(ctx); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// Run serves webhooks and runs the workers, as cfg says, until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	stages, err := build(ctx, cfg)
	if err != nil {
		return err
	}
	cfg.Log.Info("layerq serving", "role", cfg.Role, "listen", cfg.Listener.Addr().String(), "registries", len(cfg.Registries.All()))
	return runStages(ctx, stages)
}

// streams are the JetStream consumers a serve process reads.
type streams struct {
	js                                                   jetstream.JetStream
	events, quarantine, deferred, layers, layersDeferred jetstream.Consumer
}

// ensureStreams makes (or checks) the streams once NATS answers. Refused
// credentials are not waited for: they will not heal.
func ensureStreams(ctx context.Context, cfg Config) (streams, error) {
	var s streams
	var err error
	if s.js, err = jetstream.New(cfg.NATS); err != nil {
		return s, err
	}
	retryable := func(error) bool { return !errors.Is(cfg.NATS.LastError(), nats.ErrAuthorization) }
	s.events, err = WaitFor(ctx, cfg.Log, "NATS JetStream", func() (jetstream.Consumer, error) { return stream.Ensure(ctx, s.js, cfg.Settings) }, retryable)
	if errors.Is(cfg.NATS.LastError(), nats.ErrAuthorization) {
		return s, errors.New("NATS refused layerq's credentials (authorization violation): check the user and password in --nats-url, or --nats-creds / --nats-nkey")
	}
	if err != nil {
		return s, err
	}
	ensure := func(f func(context.Context, jetstream.JetStream, stream.Settings) (jetstream.Consumer, error)) (jetstream.Consumer, error) {
		return WaitFor(ctx, cfg.Log, "NATS JetStream", func() (jetstream.Consumer, error) { return f(ctx, s.js, cfg.Settings) }, nil)
	}
	if s.quarantine, err = ensure(stream.EnsureQuarantine); err != nil {
		return s, err
	}
	if s.deferred, err = ensure(stream.EnsureDeferred); err != nil {
		return s, err
	}
	if !cfg.NoLayerScan {
		if s.layers, err = ensure(stream.EnsureLayers); err != nil {
			return s, err
		}
		if s.layersDeferred, err = ensure(stream.EnsureLayersDeferred); err != nil {
			return s, err
		}
	}
	return s, nil
}

// build makes the streams and the stages cfg asks for.
func build(ctx context.Context, cfg Config) ([]stage, error) {
	st, err := ensureStreams(ctx, cfg)
	if err != nil {
		return nil, err
	}
	consumers := []jetstream.Consumer{st.events, st.quarantine, st.deferred}
	if st.layers != nil {
		consumers = append(consumers, st.layers, st.layersDeferred)
	}
	if err := stream.Observe(cfg.Telemetry.MeterFor(), consumers...); err != nil {
		return nil, err
	}
	web, err := httpStages(cfg, st.js)
	if err != nil {
		return nil, err
	}
	if cfg.Role == RoleReceiver {
		return web, nil
	}
	if cfg.Alerts != nil {
		if _, err := WaitFor(ctx, cfg.Log, "NATS JetStream", func() (struct{}, error) { return struct{}{}, stream.EnsureAlerts(ctx, st.js, cfg.Settings) }, nil); err != nil {
			return nil, err
		}
	}
	return append(web, workerStages(cfg, st)...), nil
}

// httpStages serve the webhook receiver (or, for a worker, the health
// endpoints alone) and the metrics.
func httpStages(cfg Config, js jetstream.JetStream) ([]stage, error) {
	checks := []receiver.Check{
		{Name: "postgres", Fn: func(ctx context.Context) error { return cfg.Pool.Ping(ctx) }},
		{Name: "nats", Fn: func(ctx context.Context) error {
			if !cfg.NATS.IsConnected() {
				return errors.New("not connected")
			}
			_, err := js.AccountInfo(ctx)
			return err
		}},
	}
	name, handler := "health endpoints", readyOnly(checks)
	if cfg.Role != RoleWorker {
		pub := stream.NewPublisher(js, cfg.Telemetry)
		rcv, err := receiver.New(receiver.Options{
			Credentials: cfg.Credentials, InsecureNoAuth: cfg.NoAuth, Registries: cfg.Registries,
			Publisher: pub, Quarantine: pub, Ready: checks, Log: cfg.Log, Telemetry: cfg.Telemetry,
		})
		if err != nil {
			return nil, err
		}
		name, handler = "webhook receiver", rcv
	}
	var stages []stage
	switch {
	case cfg.Metrics != nil && cfg.MetricsListener != nil:
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", cfg.Metrics)
		stages = append(stages, httpStage("metrics", cfg.HTTP.Server(mux), cfg.MetricsListener))
	case cfg.Metrics != nil:
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", cfg.Metrics)
		mux.Handle("/", handler)
		handler = mux
	}
	return append(stages, httpStage(name, cfg.HTTP.Server(handler), cfg.Listener)), nil
}

// httpStage serves srv on ln, and shuts it down (10 s for what is in
// flight) when ctx ends.
func httpStage(name string, srv *http.Server, ln net.Listener) stage {
	return stage{name, func(ctx context.Context) error {
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		select {
		case err := <-served:
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			err := srv.Shutdown(sctx)
			<-served
			return err
		}
	}}
}

// workerStages take the streams into the graph: events, deferred events,
// the quarantine, layer jobs, zot's events, and the loops that keep the
// graph's aggregates, waste figures and completeness.
func workerStages(cfg Config, st streams) []stage {
	store := graph.New(cfg.Pool)
	// The stream redelivers failed events with a growing delay; a walk
	// need not retry requests itself.
	walkers := walker.NewWalkers(cfg.Registries, walker.Options{Source: "webhook", Attempts: 1})
	opts := worker.Options{Store: store, Walkers: walkers, Concurrency: cfg.Workers,
		MaxDeliver: cfg.Settings.MaxDeliver, MaxDelay: cfg.Settings.MaxDelay, Deferred: stream.NewPublisher(st.js, cfg.Telemetry),
		AckWait: cfg.Settings.AckWait, Log: cfg.Log, Telemetry: cfg.Telemetry}
	// A fault-injection hook for failure tests (docs/operations.md).
	if n, err := strconv.Atoi(os.Getenv("LAYERQ_FAULT_EXIT_AFTER_COMMITS")); err == nil && n > 0 {
		opts.FaultExitAfterCommits = n
		cfg.Log.Warn("fault injection: this worker exits between a commit and its ack", "after_commits", n)
	}
	if st.layers != nil {
		opts.Layers = stream.NewPublisher(st.js, cfg.Telemetry)
	}
	// A committed event wakes the folder (which, under a burst, folds at
	// most a fifth of the time: folding after every commit cost a burst of
	// events a sixth of its rate), and a fold the alerter: an alert follows
	// its push by the time these take, not a tick.
	wakeFold, wakeAlerts := make(chan struct{}, 1), make(chan struct{}, 1)
	opts.Committed = func() { poke(wakeFold) }
	wk := worker.New(opts)
	stages := []stage{
		{"event worker", func(ctx context.Context) error { return wk.Run(ctx, st.events) }},
		{"deferred events", func(ctx context.Context) error { return wk.RunDeferred(ctx, st.deferred) }},
		{"quarantine keeper", func(ctx context.Context) error {
			return worker.KeepQuarantine(ctx, st.quarantine, store, cfg.Settings.MaxDelay, cfg.Log)
		}},
		// Fold the queued changes into the aggregates the dashboards read;
		// reports fold them themselves before reading.
		{"aggregate folder", func(ctx context.Context) error {
			store.Aggregate(ctx, time.Second, wakeFold, func(err error) { cfg.Log.Warn("aggregates", "error", err) }, func() { poke(wakeAlerts) })
			return nil
		}},
	}
	if cfg.Alerts != nil {
		stages = append(stages, alertStages(cfg, st, wakeAlerts)...)
	}
	if st.layers != nil && cfg.LayerWorkers > 0 {
		lc := &layerindex.Consumer{Indexer: &layerindex.Indexer{Store: store, Limits: cfg.LayerLimits, Telemetry: cfg.Telemetry}, Walkers: walkers,
			Concurrency: cfg.LayerWorkers, MaxDeliver: cfg.Settings.MaxDeliver, MaxDelay: cfg.Settings.MaxDelay, AckWait: cfg.Settings.AckWait,
			Deferred: stream.NewPublisher(st.js, cfg.Telemetry), Log: cfg.Log}
		stages = append(stages,
			stage{"layer consumer", func(ctx context.Context) error { return lc.Run(ctx, st.layers) }},
			stage{"deferred layers", func(ctx context.Context) error { return lc.RunDeferred(ctx, st.layersDeferred) }},
			// The waste of newly indexed images, for the dashboards (where
			// this process scans layers: layers indexed elsewhere, by scan
			// --layers, are picked up by those that do).
			stage{"waste analyzer", func(ctx context.Context) error {
				analyzeWaste(ctx, cfg.Pool, store, 5*time.Second, cfg.Log)
				return nil
			}},
			// The near-duplicate keys of the layers indexed since the last
			// pass, in batches (`layerq duplicates --kind layer` works out
			// what is left before it reads).
			stage{"near-duplicate keys", func(ctx context.Context) error {
				store.KeepLayerKeys(ctx, 5*time.Second, func(err error) { cfg.Log.Warn("near-duplicate keys", "error", err) })
				return nil
			}},
		)
	}
	if cfg.ZotSubject != "" {
		attribute := func(ev webhook.Event) (webhook.Event, error) { return receiver.Attribute(cfg.Registries, ev, "") }
		stages = append(stages, stage{"zot bridge", func(ctx context.Context) error {
			return stream.Bridge(ctx, st.js, cfg.ZotSubject, cfg.Settings.Replicas, attribute, cfg.Telemetry, cfg.Log)
		}})
	}
	if cfg.Reconcile > 0 {
		stages = append(stages, stage{"reconciler", func(ctx context.Context) error {
			return scan.Reconcile(ctx, store, walkers, cfg.Reconcile, cfg.Telemetry, cfg.Log)
		}})
	}
	return stages
}
