package main

import (
	"fmt"
	"strings"

	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/urfave/cli/v2"
)

func storageCommand() *cli.Command {
	return &cli.Command{
		Name:  "storage",
		Usage: "where storage goes per repository or namespace: logical, physical (each blob once), unique and shared bytes, and the registry's dedup ratio",
		Description: `LOGICAL adds up each live image's layers and config as if nothing were
shared; PHYSICAL counts each blob the repository holds once; UNIQUE is what
no other repository (namespace) of the registry holds — what deleting it
would free; SHARED is the rest. Above the table, per registry: logical vs
physical bytes with every blob counted once across the registry. --limit
rows are listed, the largest physical first.

Examples:
   layerq storage
   layerq storage --by namespace
   layerq storage --repo 'team-a/**' -o csv
   layerq storage --limit 0 -o json`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "by", Value: report.ByRepository, Usage: "group by `repository` or namespace (first path segment)"},
			&cli.StringFlag{Name: "repo", Value: "**", Usage: "only rows whose repository (or namespace) matches `GLOB` (by namespace, NS/** names the namespace NS)"},
			&cli.IntFlag{Name: "limit", Value: 50, Usage: "list the `N` rows with the most physical bytes (0: all)"},
		}, outputFlags()...),
		Action: clierr.NoArgs("", func(c *cli.Context) error {
			by := c.String("by")
			if by != report.ByRepository && by != report.ByNamespace {
				return fmt.Errorf("--by %q: choose repository or namespace", by)
			}
			if n := c.Int("limit"); n < 0 {
				return fmt.Errorf("--limit must be at least 0 (got %d)", n)
			}
			names := c.String("repo")
			if by == report.ByNamespace {
				names = strings.TrimSuffix(names, "/**") // the namespace of the repositories NS/** is NS
			}
			return run(c, folded(c, func(db *database.Pool) (output.Table, error) {
				return report.LoadStorage(c.Context, db, report.StorageOptions{By: by, Names: repoglob.Compile(names), Limit: c.Int("limit")})
			}))
		}),
	}
}
