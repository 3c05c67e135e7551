package main

import (
	"fmt"

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
		Flags: append([]cli.Flag{repoFlag()}, outputFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("bases takes no arguments (got %q)", c.Args().Slice())
			}
			return run(c, folded(c, func(db *database.Pool) (output.Table, error) {
				return report.LoadBases(c.Context, db, report.BasesOptions{Repositories: repoglob.Compile(c.String("repo"))})
			}))
		},
	}
}
