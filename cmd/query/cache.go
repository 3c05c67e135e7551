package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/urfave/cli/v2"
)

func cacheCommand() *cli.Command {
	return &cli.Command{
		Name:  "cache",
		Usage: "build-cache reuse between each build and the build before it, the step that broke it, and the steps that break it most",
		Description: `Builds are compared in streams, each of one platform:

   tag       a tag's pushes, in the order they were seen (webhooks, or
             scans that saw the tag move); an index pushed under the tag
             is one build per platform.
   created   for a repository none of whose tags has moved: its builds of
             one platform in the order their configs say they were built
             (created), which is what a scan can tell without push history.
             An image seen once counts once, so a rebuild identical to the
             build before it does not show.

A build's platform is what the index of its repository listing it declares (a
cross-built image whose config names the builder's platform is shown with
"(config: …)"); an image pushed on its own has its config's platform.

Each build is compared with the build before it in its stream: a stream of
N builds gives N-1 compared. The lines above the table give the totals over
every repository, then for each of the --top repositories whose compared builds
pushed the most bytes anew (the bytes their cache did not serve), most
first: its builds (each tag push per platform, or each image), how many were
compared, the layers and bytes of the compared builds and those reused (the
leading layers with the same chain as in the build before), and the reuse:
reused bytes over the bytes of the compared builds (reuse_ratio, from 0 to
1, in JSON and CSV); then the steps most often the first to change, with
advice. The table lists each repository's latest comparisons with the first
layer that changed (the cache buster) and the step that made it. CSV has one
record per listed comparison, with the keys of a transition's JSON.

Examples:
   layerq cache
   layerq cache --repo 'team-a/**' --limit 0
   layerq cache --top 0 -o json
   layerq cache --since 30d -o csv`,
		Flags: append([]cli.Flag{
			repoFlag(),
			&cli.StringFlag{Name: "since", Usage: "only builds compared (and builds pushed) in the last `DURATION` (like 36h, 30d)"},
			&cli.IntFlag{Name: "top", Value: 20, Usage: "list the `N` repositories whose compared builds pushed the most bytes anew (0: all; totals and busters count every one)"},
			&cli.IntFlag{Name: "limit", Value: 3, Usage: "list each listed repository's latest `N` comparisons (0: all; totals count every one)"},
			&cli.IntFlag{Name: "busters", Value: 10, Usage: "list the top `N` cache busters (0: all)"},
		}, outputFlags()...),
		Action: clierr.NoArgs("", func(c *cli.Context) error {
			opts := report.CacheOptions{Repositories: repoglob.Compile(c.String("repo")), Top: c.Int("top"), Limit: c.Int("limit"), Busters: c.Int("busters")}
			if s := c.String("since"); s != "" {
				d, err := parseSince(s)
				if err != nil {
					return err
				}
				opts.Since = time.Now().Add(-d)
			}
			for _, f := range []struct {
				name     string
				val, min int
			}{{"top", opts.Top, 0}, {"limit", opts.Limit, 0}, {"busters", opts.Busters, 0}} {
				if f.val < f.min {
					return fmt.Errorf("--%s must be at least %d (got %d)", f.name, f.min, f.val)
				}
			}
			return run(c, folded(c, func(db *database.Pool) (output.Table, error) {
				return report.LoadCache(c.Context, db, opts)
			}))
		}),
	}
}

// parseSince reads a duration as Go writes them, plus whole days ("30d").
func parseSince(s string) (time.Duration, error) {
	const maxDays = 36500 // a century: past it, time.Duration overflows soon
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days > 0 && days <= maxDays {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > maxDays*24*time.Hour {
		return 0, fmt.Errorf("--since %q: give a positive duration like 36h or 30d, at most %dd", s, maxDays)
	}
	return d, nil
}
