package main

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/clibytes"
	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/layerindex"
	"github.com/layerq/layerq/internal/layerscan"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/registries"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/telemetry"
	"github.com/layerq/layerq/internal/walker"
)

// layerLimitFlags cap what one layer may cost to scan.
func layerLimitFlags() []cli.Flag {
	return []cli.Flag{
		clibytes.Flag("layer-max-bytes", layerscan.DefaultMaxUncompressed, "reject a layer whose tar is over `BYTES` uncompressed (compression bombs stop there)"),
		&cli.IntFlag{Name: "layer-max-entries", Value: layerscan.DefaultMaxEntries, Usage: "reject a layer with more than `N` tar entries"},
	}
}

// layerLimits reads the layerLimitFlags.
func layerLimits(c *cli.Context) (layerscan.Limits, error) {
	maxBytes := clibytes.Get(c, "layer-max-bytes")
	if maxBytes < 1 || c.Int("layer-max-entries") < 1 {
		return layerscan.Limits{}, fmt.Errorf("--layer-max-bytes and --layer-max-entries must be at least 1")
	}
	return layerscan.Limits{MaxUncompressed: maxBytes, MaxEntries: c.Int("layer-max-entries")}, nil
}

// registryFlags are the flags that say how to reach a registry.
func registryFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "insecure", EnvVars: []string{"LAYERQ_REGISTRY_INSECURE"}, Usage: "use plain HTTP for a registry not on localhost"},
		&cli.StringFlag{Name: "username", EnvVars: []string{"LAYERQ_REGISTRY_USERNAME"}, Usage: "basic-auth user for the registry (else the docker config)"},
		&cli.StringFlag{Name: "password", EnvVars: []string{"LAYERQ_REGISTRY_PASSWORD"}, Usage: "basic-auth password for the registry"},
		&cli.StringFlag{Name: "token", EnvVars: []string{"LAYERQ_REGISTRY_TOKEN"}, Usage: "bearer token for the registry"},
	}
}

func newWalker(c *cli.Context, registry string, jobs int) (*walker.Walker, error) {
	return walker.New(walker.Options{
		Insecure: c.Bool("insecure"),
		Keychain: walker.Keychain(walker.Credentials{
			Registry: registry, Username: c.String("username"), Password: c.String("password"), Token: c.String("token"),
		}),
		Jobs: jobs,
	})
}

// indexLayers reads every pending layer of the scanned registry into the
// file index, prints the summary line, folds what the scan changed, and
// works out the waste of the images those layers complete and the layers'
// near-duplicate keys.
func indexLayers(c *cli.Context, store *graph.Store, w *walker.Walker, glob repoglob.Glob, tel telemetry.Providers) error {
	limits, err := layerLimits(c)
	if err != nil {
		return err
	}
	name := c.String("registry-name")
	if name == "" {
		name = c.String("registry")
	}
	layers, err := layerindex.Pending(c.Context, store, name, c.String("registry"), glob.Regexp())
	if err != nil {
		return err
	}
	sum, err := layerindex.Run(c.Context, &layerindex.Indexer{Store: store, Limits: limits, Telemetry: tel}, w, layers, c.Int("layer-jobs"), newLayerProgress(c.App.ErrWriter, layers))
	if err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, sum)
	// What the layers just indexed make ready: the fold's index state,
	// the waste of the images whose layers are now all indexed, and the
	// layers' near-duplicate keys, as serve works them out in the
	// background (the keys in batches now that every layer is written,
	// not one layer at a time in its index's transaction).
	err = fold(c, store)
	if err == nil {
		progress, done := newStepProgress(c.App.ErrWriter, "image waste", "images",
			func(int64) string { return "working out the waste of the images whose layers are all indexed" },
			func(n int) string { return "waste of " + output.Count(int64(n), "image", "images") + " worked out" })
		err = report.SettleWasteProgress(c.Context, store.Pool(), report.BloatOptions{Repositories: glob}, store, 0,
			func(saved int) { progress(saved, -1) })
		done()
	}
	// The keys need neither: worked out whatever those did. A layer whose
	// keys fail waits for the next pass, and is said.
	var failed *graph.LayerKeysFailedError
	progress, done := newStepProgress(c.App.ErrWriter, "near-duplicate keys", "layers",
		func(queued int64) string {
			return "working out the near-duplicate keys of " + output.Count(queued, "layer", "layers")
		}, nil)
	_, kerr := store.ApplyLayerKeysProgress(c.Context, progress)
	done()
	switch {
	case errors.As(kerr, &failed):
		fmt.Fprintf(c.App.ErrWriter, "layerq-ingest: warning: %v\n", kerr)
	case kerr != nil:
		err = errors.Join(err, kerr)
	}
	return err
}

// foldSays is how many queued changes make a fold worth a line: several
// seconds of the fold's work or more (a pushed image queues a few).
var foldSays int64 = 10_000

// fold folds what the scan queued into the aggregates, saying so first
// when it is a large fold (one transaction that says nothing until it
// ends: minutes after a first scan of a large registry).
func fold(c *cli.Context, store *graph.Store) error {
	if n, err := store.QueuedAggregates(c.Context); err == nil && n >= foldSays {
		fmt.Fprintf(c.App.ErrWriter, "folding %d queued changes into the aggregates (the reports wait for it)\n", n)
	}
	_, err := store.ApplyAggregates(c.Context)
	return err
}

func scanCommand() *cli.Command {
	return &cli.Command{
		Name:      "scan",
		Usage:     "crawl a registry's catalog and tags into the graph (resumable; skips what the graph has)",
		ArgsUsage: " ",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "registry", EnvVars: []string{"LAYERQ_REGISTRY"}, Usage: "registry `HOST[:PORT]` to crawl"},
			&cli.StringFlag{Name: "registry-name", Usage: "`NAME` the graph gives the registry (default: the host)"},
			&cli.StringFlag{Name: "repo", Value: "**", Usage: "only repositories matching `GLOB` (* within a path segment, ** across)"},
			&cli.IntFlag{Name: "jobs", Value: 16, Usage: "manifests fetched at once"},
			&cli.IntFlag{Name: "batch-size", Value: 256, Usage: "references written per transaction"},
			&cli.BoolFlag{Name: "layers", Usage: "then read every layer not yet indexed into the file index (for bloat and file duplicates)"},
			&cli.BoolFlag{Name: "layers-only", Usage: "only index layers, from what the graph already holds (no crawl)"},
			&cli.IntFlag{Name: "layer-jobs", Value: 2 * runtime.NumCPU(), Usage: "layer blobs read at once (default: twice the cores, so fetching overlaps scanning)"},
		}, append(registryFlags(), layerLimitFlags()...)...),
		Action: clierr.NoArgs("the registry is --registry, the repositories --repo", func(c *cli.Context) error {
			if c.String("registry") == "" {
				return fmt.Errorf("scan needs --registry HOST[:PORT] (or LAYERQ_REGISTRY), e.g. --registry registry.example.com")
			}
			if err := registries.CheckHost(c.String("registry")); err != nil {
				return fmt.Errorf("--registry %w", err)
			}
			if c.Int("jobs") < 1 || c.Int("batch-size") < 1 {
				return fmt.Errorf("--jobs and --batch-size must be at least 1")
			}
			if (c.Bool("layers") || c.Bool("layers-only")) && c.Int("layer-jobs") < 1 {
				return fmt.Errorf("--layer-jobs must be at least 1")
			}
			if _, err := layerLimits(c); err != nil {
				return err
			}
			pool, err := open(c, false)
			if err != nil {
				return err
			}
			defer pool.Close()
			w, err := newWalker(c, c.String("registry"), c.Int("jobs"))
			if err != nil {
				return err
			}
			tel, stopTelemetry, err := startTelemetry(c, "scan")
			if err != nil {
				return err
			}
			defer stopTelemetry()
			store := graph.New(pool)
			glob := repoglob.Compile(c.String("repo"))
			if !c.Bool("layers-only") {
				sum, err := scan.Run(c.Context, store, w, scan.Options{
					Registry:     c.String("registry"),
					Name:         c.String("registry-name"),
					Repositories: glob,
					Jobs:         c.Int("jobs"),
					BatchSize:    c.Int("batch-size"),
					Progress:     newProgress(c.App.ErrWriter),
					Telemetry:    tel.Providers,
				})
				if err != nil {
					return err
				}
				fmt.Fprintln(c.App.Writer, sum)
				if sum.Repositories+sum.Skipped == 0 && !glob.All() {
					fmt.Fprintf(c.App.ErrWriter, "layerq-ingest: --repo %q matches no repository of %s's catalog (* matches within a path segment, ** across)\n", c.String("repo"), sum.Registry)
				}
			}
			if !c.Bool("layers") && !c.Bool("layers-only") {
				return fold(c, store)
			}
			// The crawl's changes are folded with the layers' (one fold,
			// in a backend that has planned the fold's statements once:
			// a report run meanwhile folds what it needs itself), or
			// alone if indexing the layers fails or is interrupted.
			err = indexLayers(c, store, w, glob, tel.Providers)
			if err != nil && c.Context.Err() == nil {
				if ferr := fold(c, store); ferr != nil {
					err = errors.Join(err, ferr)
				}
			}
			return err
		}),
	}
}
