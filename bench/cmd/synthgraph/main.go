// Command synthgraph writes a synthetic registry graph (bench/synth) into
// an empty, migrated database, to look at reports and query plans at sizes
// no test registry reaches:
//
//	go run ./bench/cmd/synthgraph --database-url postgres://... --images 100000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/layerq/layerq/bench/synth"
	"github.com/layerq/layerq/internal/database"
)

func main() {
	opts := synth.Defaults
	url := flag.String("database-url", os.Getenv("DATABASE_URL"), "Postgres `URL` of an empty database (migrated here)")
	flag.IntVar(&opts.Images, "images", opts.Images, "application images to push")
	flag.IntVar(&opts.PerRepository, "per-repository", opts.PerRepository, "pushes per application repository")
	flag.IntVar(&opts.Chunk, "chunk", opts.Chunk, "memberships and tag events per statement")
	flag.BoolVar(&opts.FoldEachChunk, "fold-each-chunk", opts.FoldEachChunk, "fold the aggregates after each chunk of memberships and of tag events, as serve does while pushes arrive (default: once at the end)")
	flag.BoolVar(&opts.NoFold, "no-fold", opts.NoFold, "leave every change queued at the end (the first fold, timed apart, is the next report's or scan's); not with -files")
	flag.BoolVar(&opts.Files, "files", opts.Files, "give every layer a file index of realistic shape, and every live image its waste")
	bigPair := flag.Bool("big-pair", false, "add to the graph at URL (written before) only two images of about 1 GB of files each, "+synth.BigPairA+" and "+synth.BigPairB+", for diffs of large images")
	flag.Parse()
	if opts.NoFold && (opts.Files || opts.FoldEachChunk) {
		fmt.Fprintln(os.Stderr, "synthgraph: -no-fold leaves the fold to come; it cannot go with -files or -fold-each-chunk, which fold")
		os.Exit(2)
	}
	ctx := context.Background()
	pool, err := database.Open(ctx, database.Options{URL: *url, Migrate: true, Notices: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "synthgraph:", err)
		os.Exit(1)
	}
	defer pool.Close()
	start := time.Now()
	if *bigPair {
		if err := synth.AddBigPair(ctx, pool); err != nil {
			fmt.Fprintln(os.Stderr, "synthgraph:", err)
			os.Exit(1)
		}
		fmt.Printf("%s and %s added in %s\n", synth.BigPairA, synth.BigPairB, time.Since(start).Round(time.Millisecond))
		return
	}
	opts.Log = func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	sum, err := synth.Generate(ctx, pool, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "synthgraph:", err)
		os.Exit(1)
	}
	fmt.Printf("%+v in %s\n", sum, time.Since(start).Round(time.Millisecond))
}
