package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The reports read the graph and nothing else: layerq and package report
// link neither NATS nor the registry client, nor test code.
func TestReportsLinkNoStreamNorRegistryClient(t *testing.T) {
	for _, pkg := range []string{".", "github.com/layerq/layerq/internal/report"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, banned := range []string{
				"github.com/nats-io/",
				"github.com/google/go-containerregistry/pkg/v1/remote",
				"github.com/distribution/distribution/v3",
				"github.com/layerq/layerq/internal/testenv/pgtest",
				"github.com/layerq/layerq/internal/testenv/registrytest",
			} {
				if strings.HasPrefix(dep, banned) {
					t.Errorf("%s links %s", pkg, dep)
				}
			}
		}
	}
}
