package main

import (
	"fmt"

	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/urfave/cli/v2"
)

func topSharedCommand() *cli.Command {
	return &cli.Command{
		Name:  "top-shared",
		Usage: "layers ranked by the live images and repositories that share them",
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "limit", Value: 20, Usage: "show the top `N` layers"},
			repoFlag(),
		}, outputFlags()...),
		Action: func(c *cli.Context) error {
			if c.Int("limit") < 1 {
				return fmt.Errorf("--limit must be at least 1, got %d", c.Int("limit"))
			}
			return run(c, folded(c, func(db *database.Pool) (output.Table, error) {
				return report.LoadTopShared(c.Context, db, report.TopSharedOptions{
					Limit:        c.Int("limit"),
					Repositories: repoglob.Compile(c.String("repo")),
				})
			}))
		},
	}
}
