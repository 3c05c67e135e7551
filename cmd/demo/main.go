// Command layerq-demo runs layerq's live path on one machine with sample
// images: a local registry notifying an in-process layerq-ingest serve,
// into the graph under --data-dir (or at --database-url). `go tool task
// demo` builds it and prints the reports after it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := &cli.App{
		Name:  "layerq-demo",
		Usage: "run a local registry that sends webhooks to layerq, push sample images to it, and watch them arrive in the graph",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "database-url", EnvVars: []string{"DATABASE_URL"}, Usage: "Postgres connection `URL`; without it, the local cluster under --data-dir"},
			&cli.StringFlag{Name: "data-dir", EnvVars: []string{"LAYERQ_DATA_DIR"}, Value: database.DefaultDataDir(), Usage: "`DIR` of the local default Postgres cluster and the demo's JetStream store"},
		},
		HideHelpCommand: true,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("layerq-demo takes no arguments (got %q)", c.Args().Slice())
			}
			pool, err := database.Open(c.Context, database.Options{URL: c.String("database-url"), DataDir: c.String("data-dir"), Notices: os.Stderr})
			if err != nil {
				return err
			}
			defer pool.Close()
			return demo.Run(c.Context, demo.Options{Pool: pool, DataDir: c.String("data-dir"), Out: os.Stdout, ErrOut: os.Stderr})
		},
	}
	if err := clierr.Run(ctx, app, os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "layerq-demo: %v\n", err)
		os.Exit(1)
	}
}
