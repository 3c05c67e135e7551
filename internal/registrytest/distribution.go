package registrytest

import (
	"context"
	"io"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/sirupsen/logrus"

	"github.com/layerq/layerq/internal/localregistry"
)

// DistributionOptions configure an in-process CNCF distribution registry.
type DistributionOptions struct {
	// CatalogMaxEntries caps a catalog page (default 1000, as distribution).
	CatalogMaxEntries int
	// Configure may change the configuration further (notifications...).
	Configure func(*configuration.Configuration)
}

// NewDistribution starts the CNCF distribution registry in-process, with
// in-memory storage and deletes enabled, behind the request log and the
// interceptor.
func NewDistribution(t testing.TB, opts DistributionOptions) *Server {
	t.Helper()
	logrus.SetOutput(io.Discard)
	cfg := localregistry.Config(localregistry.Options{CatalogMaxEntries: opts.CatalogMaxEntries, Configure: opts.Configure})
	return serve(t, handlers.NewApp(context.Background(), cfg))
}
