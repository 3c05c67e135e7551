package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/receiver"
	"github.com/layerq/layerq/internal/redact"
	"github.com/layerq/layerq/internal/registries"
	"github.com/layerq/layerq/internal/serve"
	"github.com/layerq/layerq/internal/stream"
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
		Action: serveAction,
	}
}

func serveAction(c *cli.Context) error {
	role := c.String("role")
	if role != serve.RoleAll && role != serve.RoleReceiver && role != serve.RoleWorker {
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
	pool, err := serve.WaitFor(c.Context, log, "Postgres", func() (*database.Pool, error) { return open(c, false) },
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
	err = serve.Run(c.Context, serve.Config{
		Telemetry: tel.Providers, Metrics: tel.MetricsHandler(),
		Role: role, Listener: ln, MetricsListener: metricsLn, Registries: regs, Credentials: creds, NoAuth: c.Bool("insecure-no-auth"),
		NATS: nc, Settings: settings, Pool: pool, Workers: c.Int("workers"),
		LayerWorkers: c.Int("layer-workers"), NoLayerScan: c.Bool("no-layer-scan"), LayerLimits: limits,
		ZotSubject: c.String("zot-nats-subject"), Reconcile: c.Duration("reconcile-every"),
		Log: log,
	})
	if c.Context.Err() != nil {
		return nil // stopped by a signal: a clean shutdown
	}
	return err
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

func loadRegistries(c *cli.Context) (*registries.Set, error) {
	if f := c.String("registries-file"); f != "" {
		if len(c.StringSlice("registry")) > 0 {
			return nil, errors.New("give registries with --registry or --registries-file, not both")
		}
		return registries.Load(f)
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
	return registries.New(regs)
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
	nc, stop, err := serve.EmbeddedNATS(dir, opts)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(c.App.ErrWriter, "layerq: no NATS URL given; using an embedded JetStream server with its store in %s\n", dir)
	return nc, stop, nil
}
