package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/receiver"
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
		}, append(layerLimitFlags(), alertFlags()...)...),
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
	alerts, err := alertConfig(c)
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
	nc, shutdownNATS, err := serve.ConnectNATS(serve.NATSConfig{URL: c.String("nats-url"), Creds: c.String("nats-creds"), NKey: c.String("nats-nkey"),
		CA: c.String("nats-ca"), Cert: c.String("nats-cert"), Key: c.String("nats-key"), Role: role, DataDir: c.String("data-dir")}, c.App.ErrWriter)
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
	ln, err := serve.Listen(c.String("listen"), c.String("tls-cert"), c.String("tls-key"))
	if err != nil {
		return err
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
		ZotSubject: c.String("zot-nats-subject"), Reconcile: c.Duration("reconcile-every"), Alerts: alerts,
		Log: log,
	})
	if c.Context.Err() != nil {
		return nil // stopped by a signal: a clean shutdown
	}
	return err
}
