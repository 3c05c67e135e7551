package receiver_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The receiver answers webhooks and publishes events; it never reads the
// graph or fetches from a registry, so it links neither Postgres nor
// go-containerregistry's registry client (the image types it passes
// around are package image's, not the store's).
func TestReceiverLinksNoStoreOrRegistryClient(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{
			"github.com/jackc/pgx/v5",
			"github.com/google/go-containerregistry/pkg/v1/remote",
			"github.com/layerq/layerq/internal/graph",
			"github.com/layerq/layerq/internal/walker",
		} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("the receiver links %s", dep)
			}
		}
	}
}
