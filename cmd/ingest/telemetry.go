package main

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"
	"go.opentelemetry.io/otel/attribute"

	"github.com/layerq/layerq/internal/telemetry"
)

// startTelemetry sets up spans and metrics from the OTEL_* environment for
// a command; stop flushes them.
func startTelemetry(c *cli.Context, role string) (tel *telemetry.Telemetry, stop func(), err error) {
	tel, err = telemetry.Start(c.Context, telemetry.Options{
		Service:    "layerq-ingest",
		Attributes: []attribute.KeyValue{attribute.String("layerq.role", role)},
	})
	if err != nil {
		return nil, nil, err
	}
	return tel, func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Context), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(ctx); err != nil {
			fmt.Fprintf(c.App.ErrWriter, "layerq-ingest: flushing telemetry: %v\n", err)
		}
	}, nil
}
