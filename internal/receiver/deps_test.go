package receiver_test

import (
	"testing"

	"github.com/layerq/layerq/internal/testenv/depstest"
)

// The receiver answers webhooks and publishes events; it never reads the
// graph or fetches from a registry, so it links neither Postgres nor
// go-containerregistry's registry client (the image types it passes
// around are package image's, not the store's).
func TestReceiverLinksNoStoreOrRegistryClient(t *testing.T) {
	depstest.Forbid(t, ".",
		"github.com/jackc/pgx/v5",
		"github.com/google/go-containerregistry/pkg/v1/remote",
		"github.com/layerq/layerq/internal/graph",
		"github.com/layerq/layerq/internal/walker",
	)
}
