package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/migrate"
)

func migrateCommand() *cli.Command {
	return &cli.Command{
		Name:  "migrate",
		Usage: "apply the schema migrations this binary carries (idempotent)",
		Action: clierr.NoArgs("", func(c *cli.Context) error {
			url := c.String("database-url")
			if url == "" {
				var err error
				if url, err = database.Local(c.Context, c.String("data-dir"), c.App.ErrWriter); err != nil {
					return err
				}
			}
			res, err := migrate.Run(c.Context, url)
			if err != nil {
				return database.Unreachable(url, err)
			}
			if len(res.Applied) == 0 && res.Functions {
				fmt.Fprintf(c.App.Writer, "functions brought up to date; schema at version %d\n", res.Version)
				return nil
			}
			if len(res.Applied) == 0 {
				fmt.Fprintf(c.App.Writer, "schema up to date at version %d\n", res.Version)
				return nil
			}
			fmt.Fprintf(c.App.Writer, "applied %d migrations; schema at version %d\n", len(res.Applied), res.Version)
			return nil
		}),
	}
}
