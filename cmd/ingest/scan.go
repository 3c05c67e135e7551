package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/walker"
)

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
		}, registryFlags()...),
		Action: func(c *cli.Context) error {
			if c.String("registry") == "" {
				return fmt.Errorf("scan needs --registry HOST[:PORT] (or LAYERQ_REGISTRY), e.g. --registry registry.example.com")
			}
			if c.Int("jobs") < 1 || c.Int("batch-size") < 1 {
				return fmt.Errorf("--jobs and --batch-size must be at least 1")
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
			sum, err := scan.Run(c.Context, graph.New(pool), w, scan.Options{
				Registry:     c.String("registry"),
				Name:         c.String("registry-name"),
				Repositories: repoglob.Compile(c.String("repo")),
				Jobs:         c.Int("jobs"),
				BatchSize:    c.Int("batch-size"),
				Progress:     newProgress(c.App.ErrWriter),
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, sum)
			return nil
		},
	}
}
