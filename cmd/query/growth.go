package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/clibytes"
	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
)

func growthCommand() *cli.Command {
	return &cli.Command{
		Name:  "growth",
		Usage: "why images grew: each push against the push before it, the largest growth first, with its causes",
		Description: `Each push compared with the push before it in its stream (a tag's pushes;
for a repository none of whose tags has moved, its builds in the order
their configs say they were built): the compressed layer bytes before and
after, and what the growth is made of, adding up to it exactly:

  base moved: library/debian:12 3f2a… → a1b2…   the new base build's layers
      in place of the old one's (and how much the base itself grew);
  each of the image's own steps                  the layers it made in this
      push less those it made in the push before, with the largest files
      of its new layers (when indexed);
  layers moved                                   layers both pushes hold,
      above a change, stored in another blob.

The change of uncompressed bytes shows when every changed layer is
indexed. Largest growth first; --min-bytes (default 1 byte) leaves out
pushes that grew less or shrank.

Exit status for CI gates: 3 when a push of the selected repositories in the
window grew by more than --fail-over (bytes like 50MB, or a percentage of
the push before like 10%); 4 when, with --fail-over, no push was compared in
the window (the push may not have arrived yet: a gate never passes blind);
1 when layerq itself failed.

Examples:
   layerq growth
   layerq growth --repo 'team-a/**' --since 7d
   layerq growth --repo team-a/api --since 1h --fail-over 10%`,
		Flags: append([]cli.Flag{
			repoFlag(),
			&cli.StringFlag{Name: "since", Usage: "only pushes compared in the last `DURATION` (like 36h, 30d)"},
			clibytes.Flag("min-bytes", 1, "list pushes that grew by at least `BYTES` (compressed)"),
			&cli.StringFlag{Name: "fail-over", Usage: "for CI gates: exit 3 when a push grew by more than `BYTES|PERCENT` (50MB, 10%), 4 when no push was compared"},
			&cli.IntFlag{Name: "limit", Value: 20, Usage: "list the `N` pushes that grew most (0: all; the counts and the gate count every one)"},
			&cli.IntFlag{Name: "top-paths", Value: 3, Usage: "name the `N` largest files of each step's new layers (0: none)"},
		}, outputFlags()...),
		Action: clierr.NoArgs("", func(c *cli.Context) error {
			opts := report.GrowthOptions{Repositories: repoglob.Compile(c.String("repo")), MinBytes: clibytes.Get(c, "min-bytes"),
				Limit: c.Int("limit"), TopPaths: c.Int("top-paths"), FailOverBytes: -1, FailOverPercent: -1}
			switch {
			case opts.MinBytes < 1:
				return fmt.Errorf("--min-bytes %d: give at least 1 byte (pushes that grew by less, or shrank, are left out)", opts.MinBytes)
			case opts.Limit < 0:
				return fmt.Errorf("--limit %d: give 0 (all) or more", opts.Limit)
			case opts.TopPaths < 0:
				return fmt.Errorf("--top-paths %d: give 0 (none) or more", opts.TopPaths)
			}
			if s := c.String("since"); s != "" {
				d, err := parseSince(s)
				if err != nil {
					return err
				}
				opts.Since = time.Now().Add(-d)
			}
			if s := c.String("fail-over"); s != "" {
				var err error
				if opts.FailOverBytes, opts.FailOverPercent, err = clibytes.ParseThreshold("fail-over", s); err != nil {
					return err
				}
			}
			var g *report.Growth
			err := run(c, folded(c, func(db *database.Pool) (output.Table, error) {
				var err error
				g, err = report.LoadGrowth(c.Context, db, opts)
				return g, err
			}))
			if err != nil {
				return err
			}
			return report.GrowthGate{Bytes: opts.FailOverBytes, Percent: opts.FailOverPercent}.Judge(g)
		}),
	}
}
