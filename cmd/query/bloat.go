package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/layerq/layerq/internal/clibytes"
	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/urfave/cli/v2"
)

// The exit statuses of a CI gate; 1 means layerq itself failed.
const (
	// exitCrossed: an image crossed --fail-over or --max-layers.
	exitCrossed = 3
	// exitCannotJudge: an image cannot be judged: layers of it are not
	// indexed yet, or one cannot be indexed.
	exitCannotJudge = 4
)

// waitInterval is how often --wait looks at the file index.
const waitInterval = time.Second

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
index them, or run layerq-ingest scan --layers) or one cannot be indexed;
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
		}, outputFlags()...),
		Action: clierr.NoArgs("give an image with --image REF", func(c *cli.Context) error {
			if clibytes.Get(c, "min-bytes") < 0 || c.Int("max-layers") < 0 || clibytes.Get(c, "small-layer") < 1 {
				return fmt.Errorf("--min-bytes and --max-layers must not be negative, --small-layer must be positive")
			}
			if c.Duration("wait") < 0 {
				return fmt.Errorf("--wait %s: give a positive duration like 10m", c.Duration("wait"))
			}
			opts := report.BloatOptions{
				Repositories: repoglob.Compile(c.String("repo")),
				MinBytes:     clibytes.Get(c, "min-bytes"),
				MaxLayers:    c.Int("max-layers"),
				SmallLayer:   clibytes.Get(c, "small-layer"),
			}
			if s := c.String("image"); s != "" {
				ref, err := report.ParseRef(s)
				if err != nil {
					return err
				}
				opts.Image = &ref
			}
			g := gate{failOver: clibytes.Get(c, "fail-over"), maxLayers: c.Int("max-layers"), wait: c.Duration("wait")}
			var b *report.Bloat
			err := run(c, func(db *database.Pool) (output.Table, error) {
				if g.wait > 0 {
					backlog, err := report.WaitIndexed(c.Context, db, opts, g.wait, waitInterval)
					if err != nil {
						return nil, err
					}
					g.timedOut = backlog.Unindexed > 0 && backlog.Rejected == 0
				}
				return folded(c, func(db *database.Pool) (output.Table, error) {
					var err error
					b, err = report.LoadBloat(c.Context, db, opts)
					return b, err
				})(db)
			})
			if err != nil {
				return err
			}
			return g.judge(b)
		}),
	}
}

// gate is what a CI gate asks of the bloat report.
type gate struct {
	failOver  int64 // -1: not asked
	maxLayers int
	wait      time.Duration
	// timedOut: layers were still not indexed when the wait ran out.
	timedOut bool
}

// judge turns the report into exit status 3 when an image crosses a
// threshold, else 4 when --fail-over or --wait was given and an image could
// not be judged.
func (g gate) judge(b *report.Bloat) error {
	var over, tooMany int
	for _, img := range b.Images {
		if g.failOver >= 0 && img.WastedBytes > g.failOver {
			over++
		}
		if img.OverMaxLayers {
			tooMany++
		}
	}
	for _, l := range b.LeftOut { // the layer count needs no file index
		if l.OverMaxLayers {
			tooMany++
		}
	}
	var why []string
	if over > 0 {
		why = append(why, fmt.Sprintf("%s more than %d bytes (--fail-over)", output.Count(int64(over), "image wastes", "images waste"), g.failOver))
	}
	if tooMany > 0 {
		why = append(why, fmt.Sprintf("%s more than %d layers (--max-layers)", output.Count(int64(tooMany), "image has", "images have"), g.maxLayers))
	}
	if len(why) > 0 {
		return &gateError{msg: strings.Join(why, "; "), status: exitCrossed}
	}
	if (g.failOver < 0 && g.wait == 0) || len(b.LeftOut) == 0 {
		return nil
	}
	waiting, refused := b.LeftOutCounts()
	var parts []string
	if waiting > 0 {
		since := "yet"
		if g.timedOut {
			since = "after waiting " + g.wait.String()
		}
		parts = append(parts, fmt.Sprintf("%s %s not indexed %s: wait for layerq-ingest serve to index them (--wait DURATION waits here), or run layerq-ingest scan --layers",
			output.Count(int64(waiting), "image has", "images have"), output.Count(int64(b.Backlog().Unindexed), "layer", "layers"), since))
	}
	if refused > 0 {
		parts = append(parts, fmt.Sprintf("%s a layer that cannot be indexed (the report's notes say why, and how to retry)", output.Count(int64(refused), "image has", "images have")))
	}
	return &gateError{msg: fmt.Sprintf("cannot judge %s (exit status %d): %s", output.Count(int64(len(b.LeftOut)), "image", "images"), exitCannotJudge, strings.Join(parts, "; ")), status: exitCannotJudge}
}

// gateError is a CI gate's verdict other than a pass: the report is
// printed, and the process exits with status (exitCrossed or
// exitCannotJudge; not 1, which means layerq failed). It is not a
// cli.ExitCoder, which would make urfave/cli exit the process itself.
type gateError struct {
	msg    string
	status int
}

func (e *gateError) Error() string { return e.msg }
