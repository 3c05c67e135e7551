package stream

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"

	"github.com/layerq/layerq/internal/telemetry"
	"github.com/layerq/layerq/internal/webhook"
)

// Names of the deferred stream, its subjects and its consumer. An event
// that still fails for a passing reason (the registry or the database
// unreachable) after Settings.MaxDeliver deliveries moves here, so that a
// long outage never holds up the events behind it, and is retried here at
// the capped delay until it is applied: nothing is dropped however long the
// outage lasts.
const (
	DeferredName          = "LAYERQ_DEFERRED"
	DeferredSubjectPrefix = "layerq.deferred"
	DeferredConsumer      = "layerq-deferred"
)

// EnsureDeferred creates the deferred stream and its consumer, or updates
// them to these settings. It is idempotent.
func EnsureDeferred(ctx context.Context, js jetstream.JetStream, s Settings) (jetstream.Consumer, error) {
	return ensure(ctx, js, s, -1, DeferredName, "layerq events retried after an outage", DeferredSubjectPrefix+".>", DeferredConsumer, "layerq deferred events")
}

// Defer stores an event's message on the deferred stream, with the headers
// it came with (its trace context), and returns once JetStream has
// acknowledged it. An event deferred twice (its first move acknowledged,
// but not the termination of the original) is stored once.
func (p *Publisher) Defer(ctx context.Context, ev webhook.Event, data []byte, header nats.Header, reason string) error {
	subject := DeferredSubjectPrefix + "." + token(ev.Source) + "." + token(string(ev.Action))
	if err := p.deferMsg(ctx, subject, DeferredName, "deferred:"+ev.ID, data, header, reason, attribute.String("messaging.message.id", ev.ID)); err != nil {
		return fmt.Errorf("%w: deferring event %s: %v", ErrUnavailable, ev.ID, err)
	}
	return nil
}

// deferMsg stores a message that failed for a passing reason on a deferred
// stream, with the headers it came with (its trace context) and the reason,
// under msgID, and returns once JetStream has acknowledged it.
func (p *Publisher) deferMsg(ctx context.Context, subject, streamName, msgID string, data []byte, header nats.Header, reason string, attr attribute.KeyValue) (err error) {
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	for k, v := range header {
		if k != jetstream.MsgIDHeader {
			msg.Header[k] = v
		}
	}
	msg.Header.Set("Layerq-Deferred-Reason", reason)
	ctx, span := p.span(ctx, subject, attr)
	defer func() { telemetry.End(span, err) }()
	_, err = p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(streamName))
	return err
}
