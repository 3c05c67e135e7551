package main

import (
	"os/exec"
	"strings"
	"testing"
)

// layerq-ingest links no test, benchmark or demo code: no registry server,
// no image generator, no test harness (the demo is its own binary,
// cmd/demo).
func TestProductionBinaryLinksNoTestCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{
			"github.com/distribution/distribution/v3",
			"github.com/google/go-containerregistry/pkg/registry",
			"github.com/layerq/layerq/internal/sample",
			"github.com/layerq/layerq/bench/synth",
			"github.com/layerq/layerq/internal/localregistry",
			"github.com/layerq/layerq/internal/testenv/registrytest",
			"github.com/layerq/layerq/internal/testenv/natstest",
			"github.com/layerq/layerq/internal/testenv/pgtest",
			"github.com/layerq/layerq/internal/demo",
		} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("layerq-ingest links %s", dep)
			}
		}
	}
}
