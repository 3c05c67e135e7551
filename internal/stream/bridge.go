package stream

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/layerq/layerq/internal/telemetry"
	"github.com/layerq/layerq/internal/webhook"
)

// ZotStream captures the CloudEvents zot's NATS sink publishes.
const ZotStream = "LAYERQ_ZOT"

// Bridge feeds CloudEvents that a registry publishes to NATS itself (zot's
// events extension with a NATS sink) into the layerq stream: a stream on the
// registry's subject keeps them durably, and each is decoded like a
// /webhooks/cloudevents request and republished with its event id, then
// acked. A message that does not decode is terminated and logged.
func Bridge(ctx context.Context, js jetstream.JetStream, subject string, replicas int, tel telemetry.Providers, log *slog.Logger) error {
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        ZotStream,
		Description: "CloudEvents published by zot, bridged into " + Name,
		Subjects:    []string{subject},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.WorkQueuePolicy,
		Replicas:    max(replicas, 1),
	}); err != nil {
		return fmt.Errorf("creating stream %s on %q: %w", ZotStream, subject, err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, ZotStream, jetstream.ConsumerConfig{
		Durable: "layerq-bridge", AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 20,
	})
	if err != nil {
		return fmt.Errorf("creating the bridge consumer: %w", err)
	}
	pub := NewPublisher(js, tel)
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		// NATS keeps header names as sent (ce-id); canonicalise them.
		h := http.Header{}
		for k, vs := range msg.Headers() {
			for _, v := range vs {
				h.Add(k, v)
			}
		}
		if h.Get("Content-Type") == "" && h.Get("Ce-Id") == "" {
			h.Set("Content-Type", webhook.CloudEventsMediaType)
		}
		res, err := webhook.DecodeCloudEvent(msg.Data(), h)
		if err != nil {
			log.Warn("bridge: dropping a message that is not a CloudEvent", "subject", msg.Subject(), "reason", err)
			msg.Term()
			return
		}
		for _, ev := range res.Events {
			if _, err := pub.Publish(telemetry.Extract(ctx, h), ev); err != nil {
				msg.Nak()
				return
			}
		}
		msg.Ack()
	})
	if err != nil {
		return fmt.Errorf("consuming %s: %w", ZotStream, err)
	}
	<-ctx.Done()
	cc.Drain()
	<-cc.Closed()
	return nil
}
