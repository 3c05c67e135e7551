package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
)

func repoFlag() cli.Flag {
	return &cli.StringFlag{Name: "repo", Value: "**", Usage: "only repositories matching `GLOB` (* within a path segment, ** across)"}
}

func topSharedCommand() *cli.Command {
	return &cli.Command{
		Name:  "top-shared",
		Usage: "layers ranked by the live images and repositories that share them",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "limit", Value: 20, Usage: "show the top `N` layers"},
			repoFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.Int("limit") < 1 {
				return fmt.Errorf("--limit must be at least 1, got %d", c.Int("limit"))
			}
			return run(c, folded(c, func(db *database.Pool) (output.Table, error) {
				return report.LoadTopShared(c.Context, db, report.TopSharedOptions{
					Limit:        c.Int("limit"),
					Repositories: repoglob.Compile(c.String("repo")),
				})
			}))
		},
	}
}

func imageCommand() *cli.Command {
	return &cli.Command{
		Name:      "image",
		Usage:     "an image's layers in order, with size, the step that made each and how widely it is shared",
		ArgsUsage: "[REGISTRY/]REPOSITORY[:TAG|@DIGEST]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "platform", Value: "linux/amd64", Usage: "for an index, the `OS/ARCH[/VARIANT]` to show"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("image takes one reference, like library/debian:12, with flags before it (got %d arguments: %q)", c.NArg(), c.Args().Slice())
			}
			ref, err := report.ParseRef(c.Args().First())
			if err != nil {
				return err
			}
			return run(c, folded(c, func(db *database.Pool) (output.Table, error) {
				return report.LoadImage(c.Context, db, report.ImageOptions{Ref: ref, Platform: c.String("platform")})
			}))
		},
	}
}

func bloatCommand() *cli.Command {
	return &cli.Command{
		Name:  "bloat",
		Usage: "bytes lower layers carry that the final filesystem hides, by the steps that added and hid them, with the fix; and runs of small RUN layers",
		Flags: []cli.Flag{
			repoFlag(),
			&cli.StringFlag{Name: "image", Usage: "only the image `REF` ([REGISTRY/]REPOSITORY[:TAG|@DIGEST]; an index: every platform)"},
			&cli.Int64Flag{Name: "min-bytes", Usage: "hide images wasting fewer than `N` bytes (images with layer runs still show)"},
			&cli.Int64Flag{Name: "fail-over", Value: -1, Usage: "exit 3 when an image wastes more than `BYTES` (for CI gates)"},
			&cli.IntFlag{Name: "max-layers", Usage: "flag images with more than `N` layers, and exit 3 if any"},
			&cli.Int64Flag{Name: "small-layer", Value: 1 << 20, Usage: "a RUN layer under `BYTES` (compressed) is small, for layer runs"},
		},
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

func duplicatesCommand() *cli.Command {
	return &cli.Command{
		Name:  "duplicates",
		Usage: "what is stored twice: one layer under several blobs, near-identical layers, file-level dedup",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "kind", Value: "blob", Usage: "`KIND`: blob (one diff_id, several blobs), layer (layers whose files match), file (registry-wide file dedup ratio)"},
			repoFlag(),
			&cli.IntFlag{Name: "limit", Value: 20, Usage: "show the top `N`"},
			&cli.Float64Flag{Name: "min-similarity", Value: 0.9, Usage: "kind layer: the least share of file bytes two layers must share (0..1)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("duplicates takes no arguments (got %q)", c.Args().Slice())
			}
			return run(c, func(db *database.Pool) (output.Table, error) {
				return report.LoadDuplicates(c.Context, db, report.DuplicatesOptions{
					Kind:          c.String("kind"),
					Repositories:  repoglob.Compile(c.String("repo")),
					Limit:         c.Int("limit"),
					MinSimilarity: c.Float64("min-similarity"),
				})
			})
		},
	}
}

func storageCommand() *cli.Command {
	return &cli.Command{
		Name:  "storage",
		Usage: "where storage goes per repository or namespace: logical, physical (each blob once), unique and shared bytes, and the registry's dedup ratio",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "by", Value: report.ByRepository, Usage: "group by `repository` or namespace (first path segment)"},
			&cli.StringFlag{Name: "repo", Value: "**", Usage: "only rows whose repository (or namespace) matches `GLOB`"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("storage takes no arguments (got %q)", c.Args().Slice())
			}
			by := c.String("by")
			if by != report.ByRepository && by != report.ByNamespace {
				return fmt.Errorf("--by %q: choose repository or namespace", by)
			}
			return run(c, folded(c, func(db *database.Pool) (output.Table, error) {
				return report.LoadStorage(c.Context, db, report.StorageOptions{By: by, Names: repoglob.Compile(c.String("repo"))})
			}))
		},
	}
}

func basesCommand() *cli.Command {
	return &cli.Command{
		Name:  "bases",
		Usage: "base images, the live images built on each, and how many sit on an outdated build of their base",
		Flags: []cli.Flag{repoFlag()},
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

func cacheCommand() *cli.Command {
	return &cli.Command{
		Name:  "cache",
		Usage: "build-cache reuse between consecutive pushes, the step that broke it, and the steps that break it most",
		Flags: []cli.Flag{
			repoFlag(),
			&cli.StringFlag{Name: "since", Usage: "only pushes in the last `DURATION` (like 36h, 30d)"},
			&cli.IntFlag{Name: "limit", Value: 3, Usage: "list each repository's latest `N` pushes (0: all; totals count every push)"},
			&cli.IntFlag{Name: "busters", Value: 10, Usage: "list the top `N` cache busters"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("cache takes no arguments (got %q)", c.Args().Slice())
			}
			opts := report.CacheOptions{Repositories: repoglob.Compile(c.String("repo")), Limit: c.Int("limit"), Busters: c.Int("busters")}
			if s := c.String("since"); s != "" {
				d, err := parseSince(s)
				if err != nil {
					return err
				}
				opts.Since = time.Now().Add(-d)
			}
			if opts.Limit < 0 || opts.Busters < 1 {
				return fmt.Errorf("--limit must not be negative and --busters must be at least 1 (got %d and %d)", opts.Limit, opts.Busters)
			}
			return run(c, folded(c, func(db *database.Pool) (output.Table, error) {
				return report.LoadCache(c.Context, db, opts)
			}))
		},
	}
}

// parseSince reads a duration as Go writes them, plus whole days ("30d").
func parseSince(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days > 0 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--since %q: give a positive duration like 36h or 30d", s)
	}
	return d, nil
}
