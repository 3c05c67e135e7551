package stream

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Consume runs handle on the messages of cons, concurrency at a time, until
// ctx ends; then it drains: it fetches nothing more, lets the handlers in
// flight finish, and returns. name says what is consumed, for the log.
func Consume(ctx context.Context, cons jetstream.Consumer, concurrency int, name string, log *slog.Logger, handle func(jetstream.Msg)) error {
	var subs []jetstream.ConsumeContext
	for range max(concurrency, 1) {
		cc, err := cons.Consume(handle,
			jetstream.PullMaxMessages(1),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				if ctx.Err() == nil {
					log.Warn("consuming "+name, "err", err)
				}
			}))
		if err != nil {
			for _, s := range subs {
				s.Stop()
			}
			return fmt.Errorf("subscribing to %s: %w", cons.CachedInfo().Name, err)
		}
		subs = append(subs, cc)
	}
	<-ctx.Done()
	for _, s := range subs {
		s.Drain()
	}
	for _, s := range subs {
		<-s.Closed()
	}
	return nil
}

// KeepAlive tells the server every ackWait/3 that msg is still being
// worked on, so it is not handed to another consumer meanwhile, until the
// returned function is called.
func KeepAlive(msg jetstream.Msg, ackWait time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(ackWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				msg.InProgress()
			}
		}
	}()
	return func() { close(done) }
}

// Backoff is the delay before redelivery n+1 with the default settings:
// 1s, 2s, 4s … capped at 2 minutes.
func Backoff(delivered uint64) time.Duration { return Settings{}.Backoff(delivered) }

// Delivered is how many times msg has been delivered (1 when unknown).
func Delivered(msg jetstream.Msg) uint64 {
	if meta, err := msg.Metadata(); err == nil {
		return meta.NumDelivered
	}
	return 1
}

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
