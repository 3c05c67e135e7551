package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"

	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/layerindex"
	"github.com/layerq/layerq/internal/layerscan"
	"github.com/layerq/layerq/internal/receiver"
	"github.com/layerq/layerq/internal/redact"
	"github.com/layerq/layerq/internal/registries"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/telemetry"
	"github.com/layerq/layerq/internal/walker"
	"github.com/layerq/layerq/internal/webhook"
	"github.com/layerq/layerq/internal/worker"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "receive registry webhooks onto NATS JetStream and apply them to the graph",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "listen", Value: ":8080", EnvVars: []string{"LAYERQ_LISTEN"}, Usage: "`ADDR` for webhooks, /healthz, /readyz and /metrics"},
			&cli.StringFlag{Name: "tls-cert", EnvVars: []string{"LAYERQ_TLS_CERT"}, Usage: "serve HTTPS with this certificate `FILE` (PEM, chain included); with --tls-key"},
			&cli.StringFlag{Name: "tls-key", EnvVars: []string{"LAYERQ_TLS_KEY"}, Usage: "the certificate's private key `FILE` (PEM)"},
			&cli.StringFlag{Name: "role", Value: "all", Usage: "`ROLE`: all, receiver or worker"},
			&cli.StringSliceFlag{Name: "registry", EnvVars: []string{"LAYERQ_REGISTRIES"}, Usage: "a registry `HOST[:PORT]` events may name (repeat, or comma-separate)"},
			&cli.StringFlag{Name: "registries-file", EnvVars: []string{"LAYERQ_REGISTRIES_FILE"}, Usage: "YAML `FILE` of registries (name, host, aliases, insecure, credentials)"},
			&cli.StringSliceFlag{Name: "webhook-token", EnvVars: []string{"LAYERQ_WEBHOOK_TOKENS"}, Usage: "accepted bearer `[SOURCE=]TOKEN` (repeat for rotation; no SOURCE: every source)"},
			&cli.StringSliceFlag{Name: "webhook-basic", EnvVars: []string{"LAYERQ_WEBHOOK_BASIC"}, Usage: "accepted basic auth `[SOURCE=]USER:PASSWORD`"},
			&cli.BoolFlag{Name: "insecure-no-auth", Usage: "accept webhooks without credentials"},
			&cli.BoolFlag{Name: "insecure", Usage: "fetch from the --registry hosts over plain HTTP (localhost always may)"},
			&cli.StringFlag{Name: "nats-url", EnvVars: []string{"NATS_URL"}, Usage: "NATS `URL`(s); without it, an embedded JetStream server under --data-dir"},
			&cli.StringFlag{Name: "nats-creds", EnvVars: []string{"NATS_CREDS"}, Usage: "NATS credentials `FILE`"},
			&cli.StringFlag{Name: "nats-nkey", EnvVars: []string{"NATS_NKEY"}, Usage: "NATS nkey seed `FILE`"},
			&cli.StringFlag{Name: "nats-ca", EnvVars: []string{"NATS_CA"}, Usage: "CA `FILE` for NATS TLS"},
			&cli.StringFlag{Name: "nats-cert", EnvVars: []string{"NATS_CERT"}, Usage: "client certificate `FILE` for NATS TLS"},
			&cli.StringFlag{Name: "nats-key", EnvVars: []string{"NATS_KEY"}, Usage: "client key `FILE` for NATS TLS"},
			&cli.IntFlag{Name: "stream-replicas", Value: 1, Usage: "JetStream replicas of the event stream (3 on a cluster)"},
			&cli.StringFlag{Name: "metrics-listen", EnvVars: []string{"LAYERQ_METRICS_LISTEN"}, Usage: "serve /metrics on this `ADDR` only (not on --listen), so the webhook port can face registries without exposing metrics"},
			&cli.IntFlag{Name: "retries", Value: 10, Usage: "deliveries of an event before one still failing for a passing reason (registry or database down) moves to the deferred stream, where it is retried until applied"},
			&cli.DurationFlag{Name: "retry-max-delay", Value: 2 * time.Minute, Usage: "the longest delay between two deliveries of a failing event (`DURATION`)"},
			&cli.DurationFlag{Name: "ack-wait", Value: 60 * time.Second, Usage: "how long a worker may hold an event unacknowledged before JetStream hands it to another (`DURATION`; long walks extend it)"},
			&cli.IntFlag{Name: "workers", Value: 4, Usage: "events handled at once by this process"},
			&cli.IntFlag{Name: "layer-workers", Value: 1, Usage: "layer blobs scanned at once by this process (0: this process scans none; pushed layers still queue)"},
			&cli.BoolFlag{Name: "no-layer-scan", Usage: "do not queue pushed layers for file indexing (bloat and file duplicates then need `scan --layers`)"},
			&cli.StringFlag{Name: "zot-nats-subject", Usage: "also take the CloudEvents zot's NATS sink publishes on `SUBJECT` (same NATS server)"},
			&cli.DurationFlag{Name: "reconcile-every", Usage: "scan every configured registry this often (`DURATION`, e.g. 1h), to heal events the registry dropped"},
		}, layerLimitFlags()...),
		Action: serve,
	}
}

// server is what serve runs, from flags or from the demo.
type server struct {
	role     string
	listener net.Listener
	// metricsListener, when set, serves /metrics alone (else it is served
	// on listener).
	metricsListener net.Listener
	// http bounds what one connection may hold (zero: httpLimits()).
	http     httpLimits
	regs     *registries.Set
	creds    map[string]receiver.Credentials
	noAuth   bool
	nc       *nats.Conn
	settings stream.Settings
	pool     *database.Pool
	workers  int
	// layerWorkers scan layer blobs off the layer stream; noLayerScan
	// stops pushed layers from being queued at all.
	layerWorkers int
	noLayerScan  bool
	layerLimits  layerscan.Limits
	zotSubject   string
	reconcile    time.Duration
	log          *slog.Logger
	// telemetry receives spans and metrics; metrics, when set, serves them
	// at GET /metrics.
	telemetry telemetry.Providers
	metrics   http.Handler
}

func serve(c *cli.Context) error {
	role := c.String("role")
	if role != "all" && role != "receiver" && role != "worker" {
		return fmt.Errorf("--role must be all, receiver or worker, not %q", role)
	}
	regs, err := loadRegistries(c)
	if err != nil {
		return err
	}
	creds, err := webhookCredentials(c)
	if err != nil {
		return err
	}
	if len(creds) == 0 && !c.Bool("insecure-no-auth") && role != "worker" {
		return receiver.ErrNoAuth
	}
	nc, shutdownNATS, err := connectNATS(c, role)
	if err != nil {
		return err
	}
	defer shutdownNATS()
	// A serve process may start before Postgres is up, or while it
	// restarts: it waits (a wrong URL or an old schema is not waited for).
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, nil))
	pool, err := retryStart(c.Context, log, "Postgres", func() (*database.Pool, error) { return open(c, false) },
		func(err error) bool {
			return !errors.Is(err, database.ErrSchemaBehind) && c.String("database-url") != ""
		})
	if err != nil {
		return err
	}
	defer pool.Close()
	tlsConfig, err := serverTLS(c.String("tls-cert"), c.String("tls-key"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return fmt.Errorf("listening on %s: %w", c.String("listen"), err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	limits, err := layerLimits(c)
	if err != nil {
		return err
	}
	if c.Duration("ack-wait") < time.Second {
		return fmt.Errorf("--ack-wait must be at least 1s")
	}
	if c.Int("retries") < 1 || c.Duration("retry-max-delay") < time.Second {
		return fmt.Errorf("--retries must be at least 1 and --retry-max-delay at least 1s")
	}
	var metricsLn net.Listener
	if addr := c.String("metrics-listen"); addr != "" {
		if metricsLn, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("listening on %s (--metrics-listen): %w", addr, err)
		}
	}
	settings := stream.Settings{Replicas: c.Int("stream-replicas"), AckWait: c.Duration("ack-wait"), MaxDeliver: c.Int("retries"), MaxDelay: c.Duration("retry-max-delay")}
	settings.Defaults()
	tel, stopTelemetry, err := startTelemetry(c, role)
	if err != nil {
		return err
	}
	defer stopTelemetry()
	err = runServer(c.Context, server{
		telemetry: tel.Providers, metrics: tel.MetricsHandler(),
		role: role, listener: ln, metricsListener: metricsLn, regs: regs, creds: creds, noAuth: c.Bool("insecure-no-auth"),
		nc: nc, settings: settings, pool: pool, workers: c.Int("workers"),
		layerWorkers: c.Int("layer-workers"), noLayerScan: c.Bool("no-layer-scan"), layerLimits: limits,
		zotSubject: c.String("zot-nats-subject"), reconcile: c.Duration("reconcile-every"),
		log: log,
	})
	if c.Context.Err() != nil {
		return nil // stopped by a signal: a clean shutdown
	}
	return err
}

// runServer serves webhooks and runs workers until ctx ends.
func runServer(ctx context.Context, s server) error {
	js, err := jetstream.New(s.nc)
	if err != nil {
		return err
	}
	// The stream is made (or checked) once NATS answers.
	// Refused credentials are not waited for: they will not heal.
	natsRetryable := func(error) bool { return !errors.Is(s.nc.LastError(), nats.ErrAuthorization) }
	cons, err := retryStart(ctx, s.log, "NATS JetStream", func() (jetstream.Consumer, error) { return stream.Ensure(ctx, js, s.settings) }, natsRetryable)
	if errors.Is(s.nc.LastError(), nats.ErrAuthorization) {
		return errors.New("NATS refused layerq's credentials (authorization violation): check the user and password in --nats-url, or --nats-creds / --nats-nkey")
	}
	if err != nil {
		return err
	}
	quarantineCons, err := retryStart(ctx, s.log, "NATS JetStream", func() (jetstream.Consumer, error) { return stream.EnsureQuarantine(ctx, js, s.settings) }, nil)
	if err != nil {
		return err
	}
	deferredCons, err := retryStart(ctx, s.log, "NATS JetStream", func() (jetstream.Consumer, error) { return stream.EnsureDeferred(ctx, js, s.settings) }, nil)
	if err != nil {
		return err
	}
	var layerCons, layerDeferredCons jetstream.Consumer
	if !s.noLayerScan {
		if layerCons, err = retryStart(ctx, s.log, "NATS JetStream", func() (jetstream.Consumer, error) { return stream.EnsureLayers(ctx, js, s.settings) }, nil); err != nil {
			return err
		}
		if layerDeferredCons, err = retryStart(ctx, s.log, "NATS JetStream", func() (jetstream.Consumer, error) { return stream.EnsureLayersDeferred(ctx, js, s.settings) }, nil); err != nil {
			return err
		}
	}
	store := graph.New(s.pool)
	consumers := []jetstream.Consumer{cons, quarantineCons, deferredCons}
	if layerCons != nil {
		consumers = append(consumers, layerCons, layerDeferredCons)
	}
	if err := stream.Observe(s.telemetry.MeterFor(), consumers...); err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	checks := []receiver.Check{
		{Name: "postgres", Fn: func(ctx context.Context) error { return s.pool.Ping(ctx) }},
		{Name: "nats", Fn: func(ctx context.Context) error {
			if !s.nc.IsConnected() {
				return errors.New("not connected")
			}
			_, err := js.AccountInfo(ctx)
			return err
		}},
	}
	var handler http.Handler = readyOnly(checks)
	if s.role != "worker" {
		pub := stream.NewPublisher(js, s.telemetry)
		rcv, err := receiver.New(receiver.Options{
			Credentials: s.creds, InsecureNoAuth: s.noAuth, Registries: s.regs,
			Publisher: pub, Quarantine: pub, Ready: checks, Log: s.log, Telemetry: s.telemetry,
		})
		if err != nil {
			return err
		}
		handler = rcv
	}
	servers := map[net.Listener]http.Handler{}
	switch {
	case s.metrics != nil && s.metricsListener != nil:
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.metrics)
		servers[s.metricsListener] = mux
	case s.metrics != nil:
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.metrics)
		mux.Handle("/", handler)
		handler = mux
	}
	servers[s.listener] = handler
	s.log.Info("layerq serving", "role", s.role, "listen", s.listener.Addr().String(), "registries", len(s.regs.All()))
	for ln, h := range servers {
		srv := s.http.server(h)
		g.Go(func() error {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
	}
	if s.role != "receiver" {
		pub := stream.NewPublisher(js, s.telemetry)
		opts := worker.Options{Store: store, Registries: s.regs, Concurrency: s.workers,
			MaxDeliver: s.settings.MaxDeliver, MaxDelay: s.settings.MaxDelay, Deferred: pub,
			AckWait: s.settings.AckWait, Log: s.log, Telemetry: s.telemetry}
		// A fault-injection hook for failure tests (docs/operations.md).
		if n, err := strconv.Atoi(os.Getenv("LAYERQ_FAULT_EXIT_AFTER_COMMITS")); err == nil && n > 0 {
			opts.FaultExitAfterCommits = n
			s.log.Warn("fault injection: this worker exits between a commit and its ack", "after_commits", n)
		}
		if layerCons != nil {
			opts.Layers = stream.NewPublisher(js, s.telemetry)
		}
		wk := worker.New(opts)
		g.Go(func() error { return wk.Run(ctx, cons) })
		g.Go(func() error { return wk.RunDeferred(ctx, deferredCons) })
		g.Go(func() error { return worker.KeepQuarantine(ctx, quarantineCons, store, s.settings.MaxDelay, s.log) })
		if layerCons != nil && s.layerWorkers > 0 {
			lc := &layerindex.Consumer{Indexer: &layerindex.Indexer{Store: store, Limits: s.layerLimits, Telemetry: s.telemetry}, Registries: s.regs,
				Concurrency: s.layerWorkers, MaxDeliver: s.settings.MaxDeliver, MaxDelay: s.settings.MaxDelay, AckWait: s.settings.AckWait,
				Deferred: stream.NewPublisher(js, s.telemetry), Log: s.log}
			g.Go(func() error { return lc.Run(ctx, layerCons) })
			g.Go(func() error { return lc.RunDeferred(ctx, layerDeferredCons) })
		}
		if s.zotSubject != "" {
			attribute := func(ev webhook.Event) (webhook.Event, error) { return receiver.Attribute(s.regs, ev, "") }
			g.Go(func() error {
				return stream.Bridge(ctx, js, s.zotSubject, s.settings.Replicas, attribute, s.telemetry, s.log)
			})
		}
		if s.reconcile > 0 {
			g.Go(func() error { return scan.Reconcile(ctx, store, s.regs, s.reconcile, s.telemetry, s.log) })
		}
		// Fold the queued changes into the aggregates the dashboards read;
		// reports fold them themselves before reading.
		g.Go(func() error {
			store.Aggregate(ctx, time.Second, func(err error) { s.log.Warn("aggregates", "error", err) })
			return nil
		})
		// Work out the waste of newly indexed images for the dashboards
		// (where this process scans layers: layers indexed elsewhere, by
		// scan --layers, are picked up by those that do).
		if layerCons != nil && s.layerWorkers > 0 {
			g.Go(func() error {
				analyzeWaste(ctx, s.pool, store, 5*time.Second, s.log)
				return nil
			})
		}
	}
	return g.Wait()
}

// httpLimits bound what one HTTP connection may hold, so that slow or idle
// clients (with or without credentials) cannot pile up.
type httpLimits struct {
	readHeader, read, write, idle time.Duration
	maxHeaderBytes                int
}

// server returns an HTTP server for h within the limits (defaults: 10 s for
// the headers, 30 s for a whole request, 60 s to answer, 2 minutes idle,
// 64 KiB of headers).
func (l httpLimits) server(h http.Handler) *http.Server {
	def := func(d, v time.Duration) time.Duration {
		if d > 0 {
			return d
		}
		return v
	}
	maxHeader := l.maxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = 64 << 10
	}
	return &http.Server{Handler: h,
		ReadHeaderTimeout: def(l.readHeader, 10*time.Second),
		ReadTimeout:       def(l.read, 30*time.Second),
		WriteTimeout:      def(l.write, 60*time.Second),
		IdleTimeout:       def(l.idle, 2*time.Minute),
		MaxHeaderBytes:    maxHeader,
	}
}

// startWait bounds how long serve waits for a dependency at start.
const startWait = 5 * time.Minute

// retryStart calls try until it succeeds, an error is not worth waiting
// for (retryable says; nil: every error is), startWait passes, or ctx ends,
// pausing 1 s, 2 s … 10 s between tries and saying so on log.
func retryStart[T any](ctx context.Context, log *slog.Logger, what string, try func() (T, error), retryable func(error) bool) (T, error) {
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

// serverTLS loads the certificate serve presents, or returns nil for plain
// HTTP when neither file is given.
func serverTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("HTTPS needs both --tls-cert and --tls-key")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the TLS certificate (--tls-cert, --tls-key): %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// readyOnly serves the health endpoints of a worker-only process.
func readyOnly(checks []receiver.Check) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		for _, c := range checks {
			if err := c.Fn(r.Context()); err != nil {
				http.Error(w, c.Name+": "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
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

func loadRegistries(c *cli.Context) (*registries.Set, error) {
	// The stream redelivers failed events with a growing delay; a walk
	// need not retry requests itself.
	opts := walker.Options{Source: "webhook", Attempts: 1}
	if f := c.String("registries-file"); f != "" {
		if len(c.StringSlice("registry")) > 0 {
			return nil, errors.New("give registries with --registry or --registries-file, not both")
		}
		return registries.Load(f, opts)
	}
	var regs []registries.Registry
	for _, h := range c.StringSlice("registry") {
		for _, h := range strings.Split(h, ",") {
			if h = strings.TrimSpace(h); h != "" {
				regs = append(regs, registries.Registry{Host: h, Insecure: c.Bool("insecure")})
			}
		}
	}
	if len(regs) == 0 {
		return nil, errors.New("serve needs the registries it may fetch from: --registry HOST[:PORT] (or --registries-file FILE)")
	}
	return registries.New(regs, opts)
}

// webhookCredentials parses the [SOURCE=]TOKEN and [SOURCE=]USER:PASSWORD
// flags. What comes before the first "=" is a SOURCE only when it is one of
// receiver.Sources; otherwise the whole value is the credential, so a token
// may hold "=" (base64 padding) and a password "=" and ":" (a user may not
// hold ":"). A credential without a SOURCE is accepted from every source.
// The values are secrets: an error says which one is wrong, never what it
// holds.
func webhookCredentials(c *cli.Context) (map[string]receiver.Credentials, error) {
	out := map[string]receiver.Credentials{}
	split := func(v string) (string, string) {
		if src, val, ok := strings.Cut(v, "="); ok {
			for _, s := range receiver.Sources {
				if s == src {
					return src, val
				}
			}
		}
		return "*", v
	}
	for i, v := range c.StringSlice("webhook-token") {
		src, tok := split(v)
		if tok == "" {
			return nil, fmt.Errorf("--webhook-token (or LAYERQ_WEBHOOK_TOKENS) value %d has no token: it takes [SOURCE=]TOKEN", i+1)
		}
		cr := out[src]
		cr.Tokens = append(cr.Tokens, tok)
		out[src] = cr
	}
	for i, v := range c.StringSlice("webhook-basic") {
		src, up := split(v)
		if user, pass, ok := strings.Cut(up, ":"); !ok || user == "" || pass == "" {
			return nil, fmt.Errorf("--webhook-basic (or LAYERQ_WEBHOOK_BASIC) value %d is not USER:PASSWORD: it takes [SOURCE=]USER:PASSWORD, with a user (no \":\" in it) and a password", i+1)
		}
		cr := out[src]
		cr.Basic = append(cr.Basic, up)
		out[src] = cr
	}
	return out, nil
}

// connectNATS connects to NATS_URL, or starts the embedded server.
func connectNATS(c *cli.Context, role string) (*nats.Conn, func(), error) {
	// RetryOnFailedConnect: a process started while NATS is down connects
	// when it comes up, as it reconnects after a restart.
	opts := []nats.Option{nats.Name("layerq-" + role), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second), nats.RetryOnFailedConnect(true)}
	if url := c.String("nats-url"); url != "" {
		if f := c.String("nats-creds"); f != "" {
			opts = append(opts, nats.UserCredentials(f))
		}
		if f := c.String("nats-nkey"); f != "" {
			o, err := nats.NkeyOptionFromSeed(f)
			if err != nil {
				return nil, nil, fmt.Errorf("reading the NATS nkey seed: %w", err)
			}
			opts = append(opts, o)
		}
		if f := c.String("nats-ca"); f != "" {
			opts = append(opts, nats.RootCAs(f))
		}
		if cert, key := c.String("nats-cert"), c.String("nats-key"); cert != "" || key != "" {
			opts = append(opts, nats.ClientCert(cert, key))
		}
		nc, err := nats.Connect(url, opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("connecting to NATS at %s: %w", redact.URL(url), redact.Error(err, url))
		}
		return nc, nc.Close, nil
	}
	if role != "all" {
		return nil, nil, errors.New("--role receiver and worker run in separate processes, which need a shared NATS server: set --nats-url (or NATS_URL)")
	}
	dir := filepath.Join(c.String("data-dir"), "nats")
	nc, stop, err := embeddedNATS(dir, opts)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(c.App.ErrWriter, "layerq: no NATS URL given; using an embedded JetStream server with its store in %s\n", dir)
	return nc, stop, nil
}

// embeddedNATS starts the in-process JetStream server with its store in dir
// and connects to it. dir is private (0700); its parent is the data
// directory, made as database.EnsureDataDir makes it.
func embeddedNATS(dir string, opts []nats.Option) (*nats.Conn, func(), error) {
	if err := database.EnsureDataDir(filepath.Dir(dir)); err != nil {
		return nil, nil, err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, nil, err
	}
	s, err := stream.StartEmbedded(stream.EmbeddedOptions{StoreDir: dir})
	if err != nil {
		return nil, nil, err
	}
	nc, err := nats.Connect("", append(opts, stream.InProcess(s))...)
	if err != nil {
		s.Shutdown()
		return nil, nil, err
	}
	return nc, func() { nc.Drain(); s.Shutdown(); s.WaitForShutdown() }, nil
}
