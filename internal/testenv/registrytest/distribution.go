package registrytest

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

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

// NewNotifyingDistribution starts the CNCF distribution registry notifying
// url of every event (with the references of manifests), sending the bearer
// token, retrying a failed delivery after 200 ms.
func NewNotifyingDistribution(t testing.TB, url, token string) *Server {
	t.Helper()
	return NewDistribution(t, DistributionOptions{Configure: func(c *configuration.Configuration) {
		c.Notifications.EventConfig.IncludeReferences = true
		c.Notifications.Endpoints = []configuration.Endpoint{{
			Name: "layerq", URL: url, Timeout: 2 * time.Second, Threshold: 3, Backoff: 200 * time.Millisecond,
			Headers: http.Header{"Authorization": {"Bearer " + token}},
		}}
	}})
}
