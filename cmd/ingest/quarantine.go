package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/walker"
	"github.com/layerq/layerq/internal/worker"
)

func quarantineCommand() *cli.Command {
	outputFlag := &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "`FORMAT`: table, wide, json or csv"}
	return &cli.Command{
		Name:  "quarantine",
		Usage: "list, show, replay and drop the webhook events kept aside instead of refused",
		Subcommands: []*cli.Command{{
			Name:  "list",
			Usage: "the items not replayed yet, oldest first",
			Flags: []cli.Flag{&cli.BoolFlag{Name: "all", Usage: "replayed items too"}, outputFlag},
			Action: func(c *cli.Context) error {
				format, err := output.ParseFormat(c.String("output"))
				if err != nil {
					return err
				}
				return withStore(c, func(store *graph.Store) error {
					items, err := store.ListQuarantine(c.Context, c.Bool("all"))
					if err != nil {
						return err
					}
					return output.Print(c.App.Writer, output.Options{Format: format, Width: output.TerminalWidth(c.App.Writer)}, report.NewQuarantineList(items))
				})
			},
		}, {
			Name:      "show",
			Usage:     "one item whole: what was received, and why it was kept aside",
			ArgsUsage: "ID",
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return errors.New("quarantine show takes one ID (or a unique start of one): see `layerq-ingest quarantine list`")
				}
				return withStore(c, func(store *graph.Store) error {
					q, err := store.GetQuarantine(c.Context, c.Args().First())
					if err != nil {
						return err
					}
					b, err := json.MarshalIndent(report.NewQuarantineItem(q), "", "  ")
					if err != nil {
						return err
					}
					fmt.Fprintln(c.App.Writer, string(b))
					return nil
				})
			},
		}, {
			Name:      "replay",
			Usage:     "decode items again with the registries given now, and apply their events (after fixing the configuration)",
			ArgsUsage: "ID... | --all",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "all", Usage: "every item not replayed yet"},
				&cli.StringSliceFlag{Name: "registry", EnvVars: []string{"LAYERQ_REGISTRIES"}, Usage: "a registry `HOST[:PORT]`, as for serve"},
				&cli.StringFlag{Name: "registries-file", EnvVars: []string{"LAYERQ_REGISTRIES_FILE"}, Usage: "YAML `FILE` of registries, as for serve"},
				&cli.BoolFlag{Name: "insecure", Usage: "fetch from the --registry hosts over plain HTTP (localhost always may)"},
			},
			Action: replayQuarantine,
		}, {
			Name:      "drop",
			Usage:     "delete items for good",
			ArgsUsage: "ID...",
			Action: func(c *cli.Context) error {
				if c.NArg() == 0 {
					return errors.New("quarantine drop takes the IDs to drop: see `layerq-ingest quarantine list`")
				}
				return withStore(c, func(store *graph.Store) error {
					var ids []string
					for _, a := range c.Args().Slice() {
						q, err := store.GetQuarantine(c.Context, a)
						if err != nil {
							return err
						}
						ids = append(ids, q.ID)
					}
					n, err := store.DropQuarantine(c.Context, ids)
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "dropped %d items\n", n)
					return nil
				})
			},
		}},
	}
}

// replayQuarantine applies the events of the items named (or all) with the
// registries given on the command line.
func replayQuarantine(c *cli.Context) error {
	if (c.NArg() == 0) == !c.Bool("all") {
		return errors.New("quarantine replay takes the IDs to replay, or --all")
	}
	regs, err := loadRegistries(c)
	if err != nil {
		return err
	}
	pool, err := open(c, false)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := graph.New(pool)
	var items []graph.Quarantined
	if c.Bool("all") {
		if items, err = store.ListQuarantine(c.Context, false); err != nil {
			return err
		}
	} else {
		for _, a := range c.Args().Slice() {
			q, err := store.GetQuarantine(c.Context, a)
			if err != nil {
				return err
			}
			items = append(items, q)
		}
	}
	w := worker.New(worker.Options{Store: store, Walkers: walker.NewWalkers(regs, walker.Options{Source: "webhook", Attempts: 1})})
	var replayed, left, events int
	err = w.ReplayQuarantined(c.Context, items, func(r worker.Replayed) {
		events += r.Events
		if r.Err != nil {
			left++
			fmt.Fprintf(c.App.Writer, "%s: left in quarantine: %v\n", short(r.ID), r.Err)
			return
		}
		replayed++
		fmt.Fprintf(c.App.Writer, "%s: %s\n", short(r.ID), r.Note)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "replayed %d items (%d events applied), %d left in quarantine; the layers of replayed pushes are indexed by `layerq-ingest scan --layers-only`\n", replayed, events, left)
	if left > 0 {
		return fmt.Errorf("%d items still cannot be used: fix the configuration (see `layerq-ingest quarantine show ID`) and replay them, or drop them", left)
	}
	return nil
}

// short is the start of an id that list prints (show, replay and drop
// take any unique start).
func short(id string) string {
	if len(id) > 14 {
		return id[:14]
	}
	return id
}
