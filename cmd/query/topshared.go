package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
)

func topSharedCommand() *cli.Command {
	return &cli.Command{
		Name:  "top-shared",
		Usage: "layers ranked by the live images and repositories that share them, one row per layer content",
		Description: `A layer is counted by its content (its diff_id), whichever blobs hold it:
a gzip and a zstd copy of one layer are one row, with both encodings listed
(compression, size, and how many images list each).

IMAGES and REPOS are content figures: the live images (and their
repositories) holding the layer. STORED and SAVED are storage figures:
STORED is what the registry keeps for the layer (each encoding once),
SAVED what sharing already saves over storing a copy per image
(per encoding: size × (images listing it − 1)).

Examples:
   layerq top-shared
   layerq top-shared --sort-by bytes-saved --limit 10
   layerq top-shared --repo 'team-a/**' -o json`,
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "limit", Value: 20, Usage: "show the top `N` layers (0: all)"},
			&cli.StringFlag{Name: "sort-by", Value: "images", Usage: "rank by `KEY`: images (alias manifests), repositories, bytes-saved or size (bytes stored)"},
			&cli.IntFlag{Name: "min-images", Value: 2, Usage: "only layers held by at least `N` live images (1: unshared layers too)"},
			repoFlag(),
		}, outputFlags()...),
		Action: clierr.NoArgs("", func(c *cli.Context) error {
			if c.Int("limit") < 0 {
				return fmt.Errorf("--limit %d: give 0 (all) or more", c.Int("limit"))
			}
			if c.Int("min-images") < 1 {
				return fmt.Errorf("--min-images must be at least 1, got %d", c.Int("min-images"))
			}
			sortBy, err := report.ParseSortBy(c.String("sort-by"))
			if err != nil {
				return err
			}
			return run(c, folded(c, func(db *database.Pool) (output.Table, error) {
				return report.LoadTopShared(c.Context, db, report.TopSharedOptions{
					Limit:        c.Int("limit"),
					Repositories: repoglob.Compile(c.String("repo")),
					SortBy:       sortBy,
					MinImages:    c.Int("min-images"),
				})
			}))
		}),
	}
}
