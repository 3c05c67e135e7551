package main

import (
	"testing"

	"github.com/layerq/layerq/internal/testenv/depstest"
)

// layerq-ingest links no test, benchmark or demo code: no registry server,
// no image generator, no test harness (the demo is its own binary,
// cmd/demo).
func TestProductionBinaryLinksNoTestCode(t *testing.T) {
	depstest.Forbid(t, ".",
		"github.com/distribution/distribution/v3",
		"github.com/google/go-containerregistry/pkg/registry",
		"github.com/layerq/layerq/internal/sample",
		"github.com/layerq/layerq/bench/synth",
		"github.com/layerq/layerq/internal/localregistry",
		"github.com/layerq/layerq/internal/testenv",
		"github.com/layerq/layerq/internal/demo",
	)
}
