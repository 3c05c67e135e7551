package main

import (
	"fmt"

	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/urfave/cli/v2"
)

func duplicatesCommand() *cli.Command {
	return &cli.Command{
		Name:  "duplicates",
		Usage: "what is stored twice: one layer under several blobs, near-identical layers, file-level dedup",
		Description: `--kind blob: layers stored under more than one blob (the same content
compressed differently, e.g. gzip and zstd copies): one row per blob, the
smallest KEPT, each other one with what it STORES AGAIN.
--kind layer: pairs of different layers whose files match (rebuilds that
changed only timestamps), with the bytes file-level dedup would save.
--kind file: the registry-wide file-level dedup ratio and the file
contents stored most often. Layer and file kinds read the file indexes:
layers not indexed yet are not counted.

Examples:
   layerq duplicates
   layerq duplicates --kind layer --min-similarity 0.95
   layerq duplicates --kind file --repo 'team-a/**' -o csv`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "kind", Value: "blob", Usage: "`KIND`: blob (one diff_id, several blobs), layer (layers whose files match), file (registry-wide file dedup ratio)"},
			repoFlag(),
			&cli.IntFlag{Name: "limit", Value: 20, Usage: "show the top `N` (0: all)"},
			&cli.Float64Flag{Name: "min-similarity", Value: 0.9, Usage: "kind layer: the least share of file bytes two layers must share (0..1)"},
		}, outputFlags()...),
		Action: clierr.NoArgs("", func(c *cli.Context) error {
			if n := c.Int("limit"); n < 0 {
				return fmt.Errorf("--limit %d: give 0 (all) or more", n)
			}
			return run(c, folded(c, func(db *database.Pool) (output.Table, error) {
				opts := report.DuplicatesOptions{
					Kind:          c.String("kind"),
					Repositories:  repoglob.Compile(c.String("repo")),
					Limit:         c.Int("limit"),
					MinSimilarity: c.Float64("min-similarity"),
				}
				note, err := report.SettleNearLayers(c.Context, opts, graph.New(db))
				if err != nil {
					return nil, err
				}
				if note != "" {
					fmt.Fprintln(c.App.ErrWriter, "layerq: "+note)
				}
				return report.LoadDuplicates(c.Context, db, opts)
			}))
		}),
	}
}
