package main

import (
	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/report"
	"github.com/urfave/cli/v2"
)

func imageCommand() *cli.Command {
	return &cli.Command{
		Name:  "image",
		Usage: "an image's layers in order, with size, the step that made each and how widely it is shared",
		Description: `The layers of one image, bottom first: the blob each is stored as, its
compressed size, the step that made it, and OTHER IMAGES: how many other
live images hold the same layer content (its diff_id), whichever
compression they store it in. A base's layers are named by the base
("(library/debian:12) ADD …"). For an index the report lists its platforms
and shows the one --platform picks; the platform is the one the index
declares, and when the image's own config says another, both are shown.
-o wide adds diff ids, compression and whether each layer is the base's.

Examples:
   layerq image library/debian:12
   layerq image team-c/multi:1.0 --platform linux/arm64
   layerq image team-a/api@3f2a1b2c3d4e -o json`,
		ArgsUsage: "[REGISTRY/]REPOSITORY[:TAG|@DIGEST] or DIGEST",
		Flags: append([]cli.Flag{
			platformFlag("for an index, the `OS/ARCH[/VARIANT]` to show"),
		}, outputFlags()...),
		Action: clierr.OneArg("reference, like library/debian:12", func(c *cli.Context) error {
			ref, err := report.ParseRef(c.Args().First())
			if err != nil {
				return err
			}
			return run(c, folded(c, func(db *database.Pool) (output.Table, error) {
				return report.LoadImage(c.Context, db, report.ImageOptions{Ref: ref, Platform: platform(c)})
			}))
		}),
	}
}
