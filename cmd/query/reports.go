package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
)

func repoFlag() cli.Flag {
	return &cli.StringFlag{Name: "repo", Value: "**", Usage: "only repositories matching `GLOB` (* within a path segment, ** across)"}
}

func topSharedCommand() *cli.Command {
	return &cli.Command{
		Name:  "top-shared",
		Usage: "layers ranked by the live images and repositories that share them",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "limit", Value: 20, Usage: "show the top `N` layers"},
			repoFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.Int("limit") < 1 {
				return fmt.Errorf("--limit must be at least 1, got %d", c.Int("limit"))
			}
			return run(c, func(db *database.Pool) (output.Table, error) {
				return report.LoadTopShared(c.Context, db, report.TopSharedOptions{
					Limit:        c.Int("limit"),
					Repositories: repoglob.Compile(c.String("repo")),
				})
			})
		},
	}
}

func imageCommand() *cli.Command {
	return &cli.Command{
		Name:      "image",
		Usage:     "an image's layers in order, with size, the step that made each and how widely it is shared",
		ArgsUsage: "[REGISTRY/]REPOSITORY[:TAG|@DIGEST]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "platform", Value: "linux/amd64", Usage: "for an index, the `OS/ARCH[/VARIANT]` to show"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("image takes one reference, like library/debian:12, with flags before it (got %d arguments: %q)", c.NArg(), c.Args().Slice())
			}
			ref, err := report.ParseRef(c.Args().First())
			if err != nil {
				return err
			}
			return run(c, func(db *database.Pool) (output.Table, error) {
				return report.LoadImage(c.Context, db, report.ImageOptions{Ref: ref, Platform: c.String("platform")})
			})
		},
	}
}
