package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/report"
)

func diffCommand() *cli.Command {
	return &cli.Command{
		Name:  "diff",
		Usage: "what changed from one image to another: layers, base, and files path by path",
		Description: `Compares image A with image B, any two images in any repositories.

Layers: the bottom both hold (same chain ids), then every layer only one
holds ("removed" from A, "added" in B), the layers both hold above a change
("kept", at their two positions) and shared layers B stores in another
blob ("recompressed"), each with its compressed size and the step that
made it. The deltas of these rows add up to B's compressed size less A's.

Base: whether both are on the same build of their base, on two builds of
one base (and how much bigger B's is), or on different bases.

Files, when every layer of both has a file index (layerq-ingest scan
--layers): the two final filesystems compared path by path — files added,
removed, changed (other content) and changed in mode or owner only, each
under the step that made it: B's layer that wrote the file B shows, or,
for a removed file, A's layer that wrote it. The largest --limit are
listed; the counts cover every one, and the listed deltas of all of them
add up to B's file bytes less A's.

Examples:
   layerq diff team-a/api:1.2 team-a/api:1.3
   layerq diff team-a/api:1.3 team-b/api:1.3 --limit 0 -o json
   layerq diff team-c/multi:1.0 team-c/multi:1.1 --platform linux/arm64`,
		ArgsUsage: "REF_A REF_B",
		Flags: append([]cli.Flag{
			platformFlag("for an index, the `OS/ARCH[/VARIANT]` to compare"),
			&cli.IntFlag{Name: "limit", Value: 20, Usage: "list the `N` largest file changes (0: all)"},
		}, outputFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return fmt.Errorf("diff takes two image references, A and B, like team-a/api:1.2 team-a/api:1.3 (got %s: %q)",
					output.Count(int64(c.NArg()), "argument", "arguments"), c.Args().Slice())
			}
			if c.Int("limit") < 0 {
				return fmt.Errorf("--limit must be at least 0 (got %d)", c.Int("limit"))
			}
			a, err := report.ParseRef(c.Args().Get(0))
			if err != nil {
				return err
			}
			b, err := report.ParseRef(c.Args().Get(1))
			if err != nil {
				return err
			}
			return run(c, folded(c, func(db *database.Pool) (output.Table, error) {
				return report.LoadDiff(c.Context, db, report.DiffOptions{A: a, B: b, Platform: platform(c), Limit: c.Int("limit")})
			}))
		},
	}
}
