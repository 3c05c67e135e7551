package stream

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Backoff is the delay before redelivery n+1 with the default settings:
// 1s, 2s, 4s … capped at 2 minutes.
func Backoff(delivered uint64) time.Duration { return Settings{}.Backoff(delivered) }

// Observe reports the backlog of consumers as gauges, read from the server
// at each metrics collection: messages not yet delivered (pending), delivered
// but not acknowledged (ack_pending), and redelivered but not acknowledged
// (redelivered).
func Observe(m metric.Meter, consumers ...jetstream.Consumer) error {
	pending, err := m.Int64ObservableGauge("layerq.consumer.pending", metric.WithUnit("{message}"),
		metric.WithDescription("Messages on a stream that its consumer has not yet delivered."))
	if err != nil {
		return err
	}
	ackPending, err := m.Int64ObservableGauge("layerq.consumer.ack_pending", metric.WithUnit("{message}"),
		metric.WithDescription("Messages a consumer delivered that are not acknowledged yet."))
	if err != nil {
		return err
	}
	redelivered, err := m.Int64ObservableGauge("layerq.consumer.redelivered", metric.WithUnit("{message}"),
		metric.WithDescription("Messages a consumer delivered more than once that are not acknowledged yet."))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		for _, c := range consumers {
			info, err := c.Info(ctx)
			if err != nil {
				continue // NATS is down: the gauges go missing, /readyz says why
			}
			attrs := metric.WithAttributes(attribute.String("stream", info.Stream), attribute.String("consumer", info.Name))
			o.ObserveInt64(pending, int64(info.NumPending), attrs)
			o.ObserveInt64(ackPending, int64(info.NumAckPending), attrs)
			o.ObserveInt64(redelivered, int64(info.NumRedelivered), attrs)
		}
		return nil
	}, pending, ackPending, redelivered)
	return err
}
