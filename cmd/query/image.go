package main

import (
	"fmt"

	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/report"
	"github.com/urfave/cli/v2"
)

func imageCommand() *cli.Command {
	return &cli.Command{
		Name:      "image",
		Usage:     "an image's layers in order, with size, the step that made each and how widely it is shared",
		ArgsUsage: "[REGISTRY/]REPOSITORY[:TAG|@DIGEST]",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "platform", Value: "linux/amd64", Usage: "for an index, the `OS/ARCH[/VARIANT]` to show"},
		}, outputFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("image takes one reference, like library/debian:12, with flags before it (got %d arguments: %q)", c.NArg(), c.Args().Slice())
			}
			ref, err := report.ParseRef(c.Args().First())
			if err != nil {
				return err
			}
			return run(c, folded(c, func(db *database.Pool) (output.Table, error) {
				return report.LoadImage(c.Context, db, report.ImageOptions{Ref: ref, Platform: c.String("platform")})
			}))
		},
	}
}
