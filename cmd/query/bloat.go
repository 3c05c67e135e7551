package main

import (
	"fmt"
	"strings"

	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/urfave/cli/v2"
)

func bloatCommand() *cli.Command {
	return &cli.Command{
		Name:  "bloat",
		Usage: "bytes lower layers carry that the final filesystem hides, by the steps that added and hid them, with the fix; and runs of small RUN layers",
		Flags: append([]cli.Flag{
			repoFlag(),
			&cli.StringFlag{Name: "image", Usage: "only the image `REF` ([REGISTRY/]REPOSITORY[:TAG|@DIGEST]; an index: every platform)"},
			&cli.Int64Flag{Name: "min-bytes", Usage: "hide images wasting fewer than `N` bytes (images with layer runs still show)"},
			&cli.Int64Flag{Name: "fail-over", Value: -1, Usage: "exit 3 when an image wastes more than `BYTES` (for CI gates)"},
			&cli.IntFlag{Name: "max-layers", Usage: "flag images with more than `N` layers, and exit 3 if any"},
			&cli.Int64Flag{Name: "small-layer", Value: 1 << 20, Usage: "a RUN layer under `BYTES` (compressed) is small, for layer runs"},
		}, outputFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("bloat takes no arguments (got %q): give an image with --image REF", c.Args().Slice())
			}
			if c.Int64("min-bytes") < 0 || c.Int("max-layers") < 0 || c.Int64("small-layer") < 1 {
				return fmt.Errorf("--min-bytes and --max-layers must not be negative, --small-layer must be positive")
			}
			opts := report.BloatOptions{
				Repositories: repoglob.Compile(c.String("repo")),
				MinBytes:     c.Int64("min-bytes"),
				MaxLayers:    c.Int("max-layers"),
				SmallLayer:   c.Int64("small-layer"),
			}
			if s := c.String("image"); s != "" {
				ref, err := report.ParseRef(s)
				if err != nil {
					return err
				}
				opts.Image = &ref
			}
			var b *report.Bloat
			err := run(c, func(db *database.Pool) (output.Table, error) {
				var err error
				b, err = report.LoadBloat(c.Context, db, opts)
				return b, err
			})
			if err != nil {
				return err
			}
			return bloatGate(b, c.Int64("fail-over"), c.Int("max-layers"))
		},
	}
}

// bloatGate turns the CI thresholds into exit status 3.
func bloatGate(b *report.Bloat, failOver int64, maxLayers int) error {
	var over, tooMany int
	for _, img := range b.Images {
		if failOver >= 0 && img.WastedBytes > failOver {
			over++
		}
		if img.OverMaxLayers {
			tooMany++
		}
	}
	var why []string
	if over > 0 {
		why = append(why, fmt.Sprintf("%d images waste more than %d bytes (--fail-over)", over, failOver))
	}
	if tooMany > 0 {
		why = append(why, fmt.Sprintf("%d images have more than %d layers (--max-layers)", tooMany, maxLayers))
	}
	if len(why) == 0 {
		return nil
	}
	return &gateError{msg: strings.Join(why, "; ")}
}

// gateError is a report that crossed a CI threshold: the report is printed,
// and the process exits with status 3 (not 1, which means layerq failed).
// It is not a cli.ExitCoder, which would make urfave/cli exit the process
// itself.
type gateError struct{ msg string }

func (e *gateError) Error() string { return e.msg }
