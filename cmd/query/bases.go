package main

import (
	"fmt"

	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/urfave/cli/v2"
)

func basesCommand() *cli.Command {
	return &cli.Command{
		Name:  "bases",
		Usage: "base images, the live images built on each, and how many sit on an outdated build of their base",
		Description: `An image's base is the image in another repository whose layers are the
bottom of its own (the longest such, by chain id), or the one its
org.opencontainers.image.base.digest annotation names. BUILDS are the
base's builds live images are built on; OUTDATED counts the images on a
build the base's tag no longer points at; KEPT is what the registry stores
only for those images (the outdated builds' layers the current build does
not have). --repo selects the dependent images counted. TOP DEPENDENTS are
the repositories with the most images on the base; --dependents lists more
of them in JSON and CSV (the counts cover every one).

Examples:
   layerq bases
   layerq bases --repo 'team-b/**' -o wide
   layerq bases --dependents 0 -o json`,
		Flags: append([]cli.Flag{repoFlag(),
			&cli.IntFlag{Name: "dependents", Value: 3, Usage: "list each base's `N` dependent repositories with the most images on it (0: all)"},
		}, outputFlags()...),
		Action: clierr.NoArgs("", func(c *cli.Context) error {
			if n := c.Int("dependents"); n < 0 {
				return fmt.Errorf("--dependents must be at least 0 (got %d)", n)
			}
			return run(c, folded(c, func(db *database.Pool) (output.Table, error) {
				return report.LoadBases(c.Context, db, report.BasesOptions{Repositories: repoglob.Compile(c.String("repo")), Dependents: c.Int("dependents")})
			}))
		}),
	}
}
