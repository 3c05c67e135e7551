package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/output"
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
					return output.Print(c.App.Writer, output.Options{Format: format, Width: output.TerminalWidth(c.App.Writer)}, quarantineList{Items: toListed(items)})
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
					b, err := json.MarshalIndent(showItem(q), "", "  ")
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
	for _, q := range items {
		n, err := w.Replay(c.Context, q.Item)
		events += n
		if err != nil {
			left++
			fmt.Fprintf(c.App.Writer, "%s: left in quarantine: %v\n", short(q.ID), err)
			if merr := store.MarkReplayed(c.Context, q.ID, false, oneLine(err.Error())); merr != nil {
				return merr
			}
			continue
		}
		replayed++
		note := fmt.Sprintf("applied %d events", n)
		if err := store.MarkReplayed(c.Context, q.ID, true, note); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "%s: %s\n", short(q.ID), note)
	}
	fmt.Fprintf(c.App.Writer, "replayed %d items (%d events applied), %d left in quarantine; the layers of replayed pushes are indexed by `layerq-ingest scan --layers-only`\n", replayed, events, left)
	if left > 0 {
		return fmt.Errorf("%d items still cannot be used: fix the configuration (see `layerq-ingest quarantine show ID`) and replay them, or drop them", left)
	}
	return nil
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

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// short is the start of an id that list prints (show, replay and drop
// take any unique start).
func short(id string) string {
	if len(id) > 14 {
		return id[:14]
	}
	return id
}

type listedItem struct {
	ID         string    `json:"id"`
	ReceivedAt time.Time `json:"received_at"`
	Source     string    `json:"source"`
	Registry   string    `json:"registry"`
	Reason     string    `json:"reason"`
	Seen       int       `json:"seen"`
	Replayed   bool      `json:"replayed"`
	Detail     string    `json:"detail"`
}

type quarantineList struct {
	Items []listedItem `json:"items"`
}

func toListed(qs []graph.Quarantined) []listedItem {
	out := make([]listedItem, 0, len(qs))
	for _, q := range qs {
		out = append(out, listedItem{ID: q.ID, ReceivedAt: q.ReceivedAt, Source: q.Source, Registry: q.Registry, Reason: string(q.Reason),
			Seen: q.Seen, Replayed: !q.ReplayedAt.IsZero(), Detail: q.Detail})
	}
	return out
}

func (l quarantineList) Columns() []output.Column {
	return []output.Column{{Key: "id"}, {Key: "received_at", Title: "RECEIVED"}, {Key: "source"}, {Key: "registry"},
		{Key: "reason"}, {Key: "replayed", Wide: true}, {Key: "seen"}, {Key: "detail"}}
}

func (l quarantineList) Rows() [][]any {
	rows := make([][]any, 0, len(l.Items))
	for _, it := range l.Items {
		reason := it.Reason
		if it.Replayed {
			reason += " (replayed)"
		}
		rows = append(rows, []any{output.Digest(it.ID), it.ReceivedAt, it.Source, it.Registry, reason, it.Replayed, it.Seen, it.Detail})
	}
	return rows
}

// shownItem is an item as show prints it: the data as JSON when it is.
type shownItem struct {
	graph.Quarantined
	Data       json.RawMessage `json:"data,omitempty"`
	DataText   string          `json:"data_text,omitempty"`
	Seen       int             `json:"seen"`
	ReplayedAt *time.Time      `json:"replayed_at,omitempty"`
	ReplayNote string          `json:"replay_note,omitempty"`
}

func showItem(q graph.Quarantined) shownItem {
	s := shownItem{Quarantined: q, Seen: q.Seen, ReplayNote: q.ReplayNote}
	if json.Valid(q.Data) {
		s.Data = q.Data
	} else {
		s.DataText = string(q.Data)
	}
	if !q.ReplayedAt.IsZero() {
		s.ReplayedAt = &q.ReplayedAt
	}
	return s
}

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
				l := aliasList{Aliases: []aliasRow{}}
				for _, a := range as {
					l.Aliases = append(l.Aliases, aliasRow{Registry: a.Registry, Host: a.Host, FirstSeen: a.FirstSeen, LastSeen: a.LastSeen, Events: a.Events})
				}
				return output.Print(c.App.Writer, output.Options{Format: format, Width: output.TerminalWidth(c.App.Writer)}, l)
			})
		},
	}
}

type aliasRow struct {
	Registry  string    `json:"registry"`
	Host      string    `json:"host"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Events    int64     `json:"events"`
}

type aliasList struct {
	Aliases []aliasRow `json:"aliases"`
}

func (l aliasList) Columns() []output.Column {
	return output.Cols("registry", "host", "first_seen", "last_seen", "events")
}

func (l aliasList) Rows() [][]any {
	rows := make([][]any, 0, len(l.Aliases))
	for _, a := range l.Aliases {
		rows = append(rows, []any{a.Registry, a.Host, a.FirstSeen, a.LastSeen, a.Events})
	}
	return rows
}
