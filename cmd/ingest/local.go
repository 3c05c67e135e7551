package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/database"
)

func localCommand() *cli.Command {
	return &cli.Command{
		Name:  "local",
		Usage: "manage the local default Postgres cluster under --data-dir",
		Subcommands: []*cli.Command{{
			Name:  "stop",
			Usage: "stop the local cluster (its data stays)",
			Action: func(c *cli.Context) error {
				if err := database.StopLocal(c.Context, c.String("data-dir")); err != nil {
					return err
				}
				fmt.Fprintln(c.App.Writer, "local Postgres stopped")
				return nil
			},
		}},
	}
}
