package main

import (
	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/report"
)

func aliasesCommand() *cli.Command {
	return &cli.Command{
		Name:  "aliases",
		Usage: "the hosts events named for each registry that its configuration does not list",
		Flags: []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "`FORMAT`: table, wide, json or csv"}},
		Action: func(c *cli.Context) error {
			format, err := output.ParseFormat(c.String("output"))
			if err != nil {
				return err
			}
			return withStore(c, func(store *graph.Store) error {
				as, err := store.Aliases(c.Context)
				if err != nil {
					return err
				}
				l := report.NewAliasList(as)
				return output.Print(c.App.Writer, output.Options{Format: format, Width: output.TerminalWidth(c.App.Writer)}, l)
			})
		},
	}
}

// withStore runs fn on the graph the global flags name.
func withStore(c *cli.Context, fn func(*graph.Store) error) error {
	pool, err := open(c, false)
	if err != nil {
		return err
	}
	defer pool.Close()
	return fn(graph.New(pool))
}
