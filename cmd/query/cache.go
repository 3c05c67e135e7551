package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/urfave/cli/v2"
)

func cacheCommand() *cli.Command {
	return &cli.Command{
		Name:  "cache",
		Usage: "build-cache reuse between consecutive pushes, the step that broke it, and the steps that break it most",
		Flags: append([]cli.Flag{
			repoFlag(),
			&cli.StringFlag{Name: "since", Usage: "only pushes in the last `DURATION` (like 36h, 30d)"},
			&cli.IntFlag{Name: "limit", Value: 3, Usage: "list each repository's latest `N` pushes (0: all; totals count every push)"},
			&cli.IntFlag{Name: "busters", Value: 10, Usage: "list the top `N` cache busters"},
		}, outputFlags()...),
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
