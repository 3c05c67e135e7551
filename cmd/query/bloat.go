package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/layerq/layerq/internal/clibytes"
	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/urfave/cli/v2"
)

// The exit statuses of a CI gate (report.Gate); 1 means layerq itself
// failed.
const (
	exitCrossed     = report.GateCrossed
	exitCannotJudge = report.GateCannotJudge
)

// waitInterval is how often --wait looks at the file index.
const waitInterval = time.Second

// settleLimit bounds the images a bloat report without a gate works out
// itself (a few seconds' work) when serve has not analyzed them yet.
const settleLimit = 2000

func bloatCommand() *cli.Command {
	return &cli.Command{
		Name:  "bloat",
		Usage: "bytes lower layers carry that the final filesystem hides, by the steps that added and hid them, with the fix; and runs of small RUN layers",
		Description: `Per image, the bytes lower layers carry that the final filesystem does not
show (a later RUN rm, a RUN chmod that copies files up, a file rewritten),
by the pair of steps that added and hid them, with the top paths and the
fix. The base is the one "layerq image" names; a pair whose bytes a base
layer added is FROM BASE (your steps can only hide them), one hidden inside
the base too is IN BASE. Also runs of small RUN layers one RUN would merge.

Exit status for CI gates: 3 when an image crosses --fail-over or
--max-layers; 4 when, with --fail-over or --wait, an image cannot be judged
because layers of it are not indexed yet (wait for layerq-ingest serve to
index them, or run layerq-ingest scan --layers) or one cannot be indexed,
and when a gate selects no live image (a gate never passes blind);
1 when layerq itself failed. Without --fail-over, --max-layers or --wait,
images not indexed yet are left out with a note and the status is 0.

Sizes are bytes (52428800), or with a unit as dive's CI rules take them:
decimal (50MB: 50,000,000 bytes) or binary (50MiB: 52,428,800 bytes).

Examples:
   layerq bloat --min-bytes 10MiB --repo 'team-a/**'
   layerq bloat --image team-a/api:1.3 --fail-over 50MB --wait 10m
   layerq bloat --image team-a/api:1.3 -o csv`,
		Flags: append([]cli.Flag{
			repoFlag(),
			&cli.StringFlag{Name: "image", Usage: "only the image `REF` ([REGISTRY/]REPOSITORY[:TAG|@DIGEST], or a digest; an index: every platform)"},
			clibytes.Flag("min-bytes", 0, "hide images wasting fewer than `BYTES` (images with layer runs still show)"),
			clibytes.Flag("fail-over", -1, "for CI gates: exit 3 when an image wastes more than `BYTES`, 4 when an image cannot be judged yet (layers not indexed); -1: no gate"),
			&cli.IntFlag{Name: "max-layers", Usage: "flag images with more than `N` layers, and exit 3 if any"},
			&cli.DurationFlag{Name: "wait", Usage: "first wait up to `DURATION` (like 10m) for every layer of the images to be indexed; exit 4 if some still are not"},
			clibytes.Flag("small-layer", 1<<20, "a RUN layer under `BYTES` (compressed) is small, for layer runs"),
			&cli.IntFlag{Name: "limit", Value: 50, Usage: "list the `N` images wasting most, and N of those left out (0: all; totals and gates count every image)"},
		}, outputFlags()...),
		Action: clierr.NoArgs("give an image with --image REF", func(c *cli.Context) error {
			for _, f := range []struct {
				name  string
				value int64
				least int64
			}{{"min-bytes", clibytes.Get(c, "min-bytes"), 0}, {"max-layers", int64(c.Int("max-layers")), 0}, {"limit", int64(c.Int("limit")), 0},
				{"small-layer", clibytes.Get(c, "small-layer"), 1}} {
				if f.value < f.least {
					return fmt.Errorf("--%s %d: give %d or more", f.name, f.value, f.least)
				}
			}
			if c.Duration("wait") < 0 {
				return fmt.Errorf("--wait %s: give a positive duration like 10m", c.Duration("wait"))
			}
			opts := report.BloatOptions{
				Repositories: repoglob.Compile(c.String("repo")),
				MinBytes:     clibytes.Get(c, "min-bytes"),
				MaxLayers:    c.Int("max-layers"),
				SmallLayer:   clibytes.Get(c, "small-layer"),
				Limit:        c.Int("limit"),
			}
			if f := clibytes.Get(c, "fail-over"); f >= 0 {
				opts.FailOver = &f
			}
			if s := c.String("image"); s != "" {
				if c.IsSet("repo") {
					return fmt.Errorf("--image %s and --repo %s both select images: give one (--image names the repository itself)", s, c.String("repo"))
				}
				ref, err := report.ParseRef(s)
				if err != nil {
					return err
				}
				opts.Image = &ref
			}
			g := report.Gate{FailOver: clibytes.Get(c, "fail-over"), MaxLayers: c.Int("max-layers"), Wait: c.Duration("wait")}
			var b *report.Bloat
			err := run(c, func(db *database.Pool) (output.Table, error) {
				if g.Wait > 0 {
					backlog, err := report.WaitIndexed(c.Context, db, opts, g.Wait, waitInterval)
					if err != nil {
						return nil, err
					}
					g.TimedOut = backlog.Unindexed > 0 && backlog.Rejected == 0
				}
				return folded(c, func(db *database.Pool) (output.Table, error) {
					// What serve has not analyzed yet, unless this role may not write.
					// A gate judges every image; a report to read works out a
					// bounded number and says how many wait.
					limit := settleLimit
					if g.Wait > 0 || g.FailOver >= 0 || g.MaxLayers > 0 {
						limit = 0
					}
					err := report.SettleWaste(c.Context, db, opts, graph.New(db), limit)
					if err != nil && !errors.Is(err, graph.ErrPermission) && !errors.Is(err, graph.ErrReadOnly) {
						return nil, err
					}
					b, err = report.LoadBloat(c.Context, db, opts)
					return b, err
				})(db)
			})
			if err != nil {
				return err
			}
			return g.Judge(b)
		}),
	}
}
