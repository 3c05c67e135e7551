// Command layerq reports over the layer-sharing graph: which layers are
// shared, what each image is made of, where storage goes, which bases are
// stale and whether builds reuse their cache.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/buildinfo"
	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/completion"
	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/hugeheap"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
)

func main() {
	// A report that builds large filesystems takes their memory from huge
	// pages: a process this short pays for every page it touches.
	hugeheap.Enable()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := clierr.Run(ctx, newApp(os.Stdout, os.Stderr), os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "layerq: %v\n", err)
		os.Exit(exitCode(err))
	}
}

// newApp builds the command tree; reports go to out, notices to errOut.
func newApp(out, errOut io.Writer) *cli.App {
	app := &cli.App{
		Writer:    out,
		ErrWriter: errOut,
		Name:      "layerq",
		Version:   buildinfo.Read().String(),
		Usage:     "what is in your registry, what is shared, what is duplicated",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "database-url", EnvVars: []string{"DATABASE_URL"}, Usage: "Postgres connection `URL`; without it, the local cluster under --data-dir"},
			&cli.StringFlag{Name: "data-dir", EnvVars: []string{"LAYERQ_DATA_DIR"}, Value: database.DefaultDataDir(), Usage: "`DIR` of the local default Postgres cluster"},
		}, outputFlags()...),
		Commands:        []*cli.Command{topSharedCommand(), imageCommand(), diffCommand(), growthCommand(), findCommand(), bloatCommand(), duplicatesCommand(), cacheCommand(), basesCommand(), storageCommand(), versionCommand()},
		HideHelpCommand: true,
	}
	completion.Enable(app)
	return app
}

func exitCode(err error) int {
	var gate *report.GateError
	if errors.As(err, &gate) {
		return gate.Status
	}
	if ec, ok := err.(cli.ExitCoder); ok {
		return ec.ExitCode()
	}
	return 1
}

// run opens the graph, runs a report and prints it in the chosen format.
// folded is load for a report that reads the aggregates, which are kept
// from a queue of the graph's changes: it folds in what is queued first, so
// the figures are exact.
func folded(c *cli.Context, load func(db *database.Pool) (output.Table, error)) func(db *database.Pool) (output.Table, error) {
	return func(db *database.Pool) (output.Table, error) {
		store := graph.New(db)
		_, err := store.ApplyAggregates(c.Context)
		switch {
		case errors.Is(err, graph.ErrStandby):
			lag, err := store.StandbyLag(c.Context)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(c.App.ErrWriter, "layerq: reading a standby, %s behind its primary: figures as of the last fold on the primary (layerq-ingest serve folds every second)\n", lagText(lag))
		case errors.Is(err, graph.ErrReadOnly):
			fmt.Fprintln(c.App.ErrWriter, "layerq: read-only database role: figures as of the last fold by layerq-ingest serve (every second while it runs)")
		case err != nil:
			return nil, err
		}
		return load(db)
	}
}

// lagText is a standby's lag for people.
func lagText(d time.Duration) string {
	if d < time.Millisecond {
		return "0 s"
	}
	return d.Round(time.Millisecond).String()
}

func run(c *cli.Context, load func(db *database.Pool) (output.Table, error)) error {
	opts, err := printOptions(c)
	if err != nil {
		return err
	}
	pool, err := database.Open(c.Context, database.Options{
		URL:     c.String("database-url"),
		DataDir: c.String("data-dir"),
		Notices: c.App.ErrWriter,
		OneShot: true,
	})
	if err != nil {
		return err
	}
	defer pool.Close()
	table, err := load(pool)
	if err != nil {
		return err
	}
	if len(table.Rows()) == 0 {
		noteUnmatchedRepo(c, pool)
	}
	return output.Print(c.App.Writer, opts, table)
}

// noteUnmatchedRepo says on stderr when an empty report's --repo matches
// no repository holding anything live (a typo, or a glob missing its
// **), before the report's own line for an empty result. It is a hint: a
// failure to ask leaves the report as it is.
func noteUnmatchedRepo(c *cli.Context, db *database.Pool) {
	glob := c.String("repo")
	if !c.IsSet("repo") {
		return
	}
	if none, err := report.MatchesNothing(c.Context, db, repoglob.Compile(glob)); err != nil || !none {
		return
	}
	hint := ""
	if !strings.Contains(glob, "/") {
		hint = fmt.Sprintf("; %q names one repository, %q a whole namespace", glob, glob+"/**")
	}
	fmt.Fprintf(c.App.ErrWriter, "layerq: --repo %q matches no repository with live images (* matches within a path segment, ** across%s)\n", glob, hint)
}

// outputFlags say how a report prints; every report takes them after its
// name, where users type them (layerq top-shared -o json).
func outputFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "`FORMAT`: table (fitted to the terminal), wide (every column, whole values), json or csv"},
		&cli.BoolFlag{Name: "no-trunc", Usage: "print every value whole on a terminal too (full digests, whole steps)"},
	}
}

// printOptions reads the output flags, and whether the report goes to a
// terminal.
// They may come before the report's name too (layerq -o json top-shared);
// after it, they win.
func printOptions(c *cli.Context) (output.Options, error) {
	format, err := output.ParseFormat(innermost(c, "output").String("output"))
	if err != nil {
		return output.Options{}, err
	}
	return output.Options{Format: format, Width: output.TerminalWidth(c.App.Writer), NoTrunc: innermost(c, "no-trunc").Bool("no-trunc")}, nil
}

// innermost is the context of c's lineage where flag name was given, the
// command's own when none.
func innermost(c *cli.Context, name string) *cli.Context {
	for _, x := range c.Lineage() {
		if x.IsSet(name) {
			return x
		}
	}
	return c
}
