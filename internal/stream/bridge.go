package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/layerq/layerq/internal/quarantine"
	"github.com/layerq/layerq/internal/telemetry"
	"github.com/layerq/layerq/internal/webhook"
)

// ZotStream captures the CloudEvents zot's NATS sink publishes.
const ZotStream = "LAYERQ_ZOT"

// Bridge feeds CloudEvents that a registry publishes to NATS itself (zot's
// events extension with a NATS sink) into the layerq stream: a stream on the
// registry's subject keeps them durably, and each is decoded like a
// /webhooks/cloudevents request, attributed to a configured registry by
// attribute (as the receiver attributes a shared endpoint's events), and
// republished with its event id, then acked. What cannot be used (a
// message that does not decode, an event attribute refuses) is kept in the
// quarantine, as the receiver keeps it.
func Bridge(ctx context.Context, js jetstream.JetStream, subject string, replicas int, attribute func(webhook.Event) (webhook.Event, error), tel telemetry.Providers, log *slog.Logger) error {
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
		mctx := telemetry.Extract(ctx, h)
		keep := func(reason quarantine.Reason, detail, kind string, data []byte, header map[string]string) bool {
			it := quarantine.Item{Source: webhook.SourceCloudEvents, Reason: reason, Detail: detail, Kind: kind, Data: data, Header: header, ReceivedAt: time.Now().UTC()}
			it.ID = quarantine.NewID(it.Source, it.Registry, it.Kind, it.Data, it.Header)
			if _, err := pub.Quarantine(mctx, it); err != nil {
				msg.Nak()
				return false
			}
			log.Warn("bridge: quarantined", "subject", msg.Subject(), "reason", reason, "detail", detail)
			return true
		}
		res, err := webhook.DecodeCloudEvent(msg.Data(), h)
		if err != nil {
			if keep(quarantine.UnparseableBody, err.Error(), quarantine.KindBody, msg.Data(), webhook.KeptHeader(h)) {
				msg.Ack()
			}
			return
		}
		for _, ev := range res.Events {
			ev, err := attribute(ev)
			if err != nil {
				data, _ := json.Marshal(ev)
				if !keep(quarantine.UnknownRegistry, err.Error(), quarantine.KindEvent, data, nil) {
					return
				}
				continue
			}
			if _, err := pub.Publish(mctx, ev); err != nil {
				msg.Nak()
				return
			}
		}
		for _, r := range res.Rejected {
			if !keep(quarantine.MalformedEvent, r.Reason, quarantine.KindBody, r.Body, webhook.KeptHeader(h)) {
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
