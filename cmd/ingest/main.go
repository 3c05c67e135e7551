// Command layerq-ingest fills the layer-sharing graph: it migrates the
// database and scans registries into it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/buildinfo"
	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/completion"
	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/output"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := clierr.Run(ctx, newApp(os.Stdout, os.Stderr), os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "layerq-ingest: %v\n", err)
		os.Exit(1)
	}
}

// newApp builds the command tree; commands print to out and report progress
// and notices to errOut.
func newApp(out, errOut io.Writer) *cli.App {
	app := &cli.App{
		Writer:    out,
		ErrWriter: errOut,
		Name:      "layerq-ingest",
		Usage:     "fill the layerq layer-sharing graph from container registries",
		Version:   buildinfo.Read().String(),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "database-url", EnvVars: []string{"DATABASE_URL"}, Usage: "Postgres connection `URL`; without it, a local cluster under --data-dir"},
			&cli.StringFlag{Name: "data-dir", EnvVars: []string{"LAYERQ_DATA_DIR"}, Value: database.DefaultDataDir(), Usage: "`DIR` for the local default Postgres cluster"},
		},
		Commands:        []*cli.Command{migrateCommand(), scanCommand(), serveCommand(), quarantineCommand(), aliasesCommand(), localCommand(), versionCommand()},
		HideHelpCommand: true,
	}
	completion.Enable(app)
	return app
}

// versionCommand prints what this binary is (as --version does): one
// line, or JSON.
func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version, the VCS revision and time it was built from, and the Go version",
		Flags: []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "`FORMAT`: table (one line) or json"}},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("version takes no arguments (got %q)", c.Args().Slice())
			}
			format, err := output.ParseFormat(c.String("output"))
			if err != nil {
				return err
			}
			return buildinfo.Read().Print(c.App.Writer, c.App.Name, format == output.JSONFormat)
		},
	}
}

// open connects to the graph database the global flags name.
func open(c *cli.Context, migrate bool) (*database.Pool, error) {
	return database.Open(c.Context, database.Options{
		URL:     c.String("database-url"),
		DataDir: c.String("data-dir"),
		Migrate: migrate,
		Notices: c.App.ErrWriter,
	})
}
