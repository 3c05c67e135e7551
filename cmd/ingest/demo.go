package main

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/walker"
)

// demoRegistryName is what the graph calls the demo's registry, whatever
// port it got.
const demoRegistryName = "demo-registry"

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "start an in-process registry seeded with sample images and scan it into the graph",
		Action: func(c *cli.Context) error {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return fmt.Errorf("listening for the demo registry: %w", err)
			}
			srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
			go srv.Serve(ln)
			defer srv.Close()
			host := ln.Addr().String()

			pushed, err := sample.Demo(c.Context, host)
			if err != nil {
				return fmt.Errorf("seeding the demo registry: %w", err)
			}
			fmt.Fprintf(c.App.ErrWriter, "demo registry at %s: pushed %d references\n", host, len(pushed))
			for _, p := range pushed {
				fmt.Fprintf(c.App.ErrWriter, "  %-8s %s:%s\n", p.Kind, p.Repository, p.Tag)
			}

			pool, err := open(c, false)
			if err != nil {
				return err
			}
			defer pool.Close()
			w, err := walker.New(walker.Options{})
			if err != nil {
				return err
			}
			sum, err := scan.Run(c.Context, graph.New(pool), w, scan.Options{
				Registry:     host,
				Name:         demoRegistryName,
				Repositories: repoglob.Compile("**"),
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
