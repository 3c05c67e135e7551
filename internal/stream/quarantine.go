package stream

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"

	"github.com/layerq/layerq/internal/quarantine"
	"github.com/layerq/layerq/internal/telemetry"
)

// Names of the quarantine stream, its subjects and the consumer that moves
// its items into the quarantine table. The receiver stores an item here
// before it answers the sender, so nothing kept aside is lost if Postgres
// is down at that moment.
const (
	QuarantineName          = "LAYERQ_QUARANTINE"
	QuarantineSubjectPrefix = "layerq.quarantine"
	QuarantineConsumer      = "layerq-quarantine"
)

// EnsureQuarantine creates the quarantine stream and its consumer, or
// updates them to these settings. It is idempotent.
func EnsureQuarantine(ctx context.Context, js jetstream.JetStream, s Settings) (jetstream.Consumer, error) {
	return ensure(ctx, js, s, -1, QuarantineName, "layerq webhook events kept aside", QuarantineSubjectPrefix+".>", QuarantineConsumer, "layerq quarantine keeper")
}

// Quarantine stores it on the quarantine stream and returns once JetStream
// has acknowledged it; duplicate is true when the stream held it already
// (the same item retried by the sender).
func (p *Publisher) Quarantine(ctx context.Context, it quarantine.Item) (duplicate bool, err error) {
	body, err := json.Marshal(it)
	if err != nil {
		return false, err
	}
	msg := &nats.Msg{Subject: QuarantineSubjectPrefix + "." + token(it.Source) + "." + token(string(it.Reason)), Data: body}
	ctx, span := p.span(ctx, msg.Subject, attribute.String("messaging.message.id", it.ID))
	defer func() { telemetry.End(span, err) }()
	telemetry.InjectMsg(ctx, msg)
	ack, err := p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(it.ID), jetstream.WithExpectStream(QuarantineName))
	if err != nil {
		return false, fmt.Errorf("%w: keeping a %s %s aside: %v", ErrUnavailable, it.Source, it.Kind, err)
	}
	return ack.Duplicate, nil
}

// DecodeQuarantine reads an item from a quarantine message body.
func DecodeQuarantine(data []byte) (quarantine.Item, error) {
	var it quarantine.Item
	if err := json.Unmarshal(data, &it); err != nil {
		return it, fmt.Errorf("decoding quarantine item: %w", err)
	}
	if it.ID == "" || it.Source == "" || it.Reason == "" || it.Kind == "" {
		return it, fmt.Errorf("invalid quarantine item: id, source, reason and kind are required")
	}
	return it, nil
}
