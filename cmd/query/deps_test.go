package main

import (
	"testing"

	"github.com/layerq/layerq/internal/testenv/depstest"
)

// The reports read the graph and nothing else: layerq and package report
// link neither NATS nor the registry client, nor test code, nor the layer
// scanner's decompressors (they read file indexes, package fileindex).
func TestReportsLinkNoStreamNorRegistryClient(t *testing.T) {
	for _, pkg := range []string{".", "github.com/layerq/layerq/internal/report"} {
		depstest.Forbid(t, pkg,
			"github.com/nats-io",
			"github.com/google/go-containerregistry/pkg/v1/remote",
			"github.com/distribution/distribution/v3",
			"github.com/layerq/layerq/internal/testenv/pgtest",
			"github.com/layerq/layerq/internal/testenv/registrytest",
			"github.com/layerq/layerq/internal/layerscan",
			"github.com/klauspost/compress",
			"github.com/zeebo/xxh3",
		)
	}
}
