package registrytest

import (
	"context"
	"io"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory" // the in-memory storage driver
	"github.com/sirupsen/logrus"
)

// DistributionOptions configure an in-process CNCF distribution registry.
type DistributionOptions struct {
	// CatalogMaxEntries caps a catalog page (default 1000, as distribution).
	CatalogMaxEntries int
	// Configure may change the configuration further (notifications...).
	Configure func(*configuration.Configuration)
}

// NewDistribution starts the CNCF distribution registry in-process, with
// in-memory storage.
func NewDistribution(t testing.TB, opts DistributionOptions) *Server {
	t.Helper()
	if opts.CatalogMaxEntries == 0 {
		opts.CatalogMaxEntries = 1000
	}
	cfg := &configuration.Configuration{Storage: configuration.Storage{"inmemory": configuration.Parameters{}}}
	cfg.Catalog.MaxEntries = opts.CatalogMaxEntries
	cfg.Log.AccessLog.Disabled = true
	cfg.Log.Level = "error"
	cfg.HTTP.Secret = "layerq-test"
	if opts.Configure != nil {
		opts.Configure(cfg)
	}
	// distribution logs through logrus' standard logger; tests do not want it.
	logrus.SetOutput(io.Discard)
	return serve(t, handlers.NewApp(context.Background(), cfg))
}
