// Package stream carries registry events from the webhook receivers to the
// ingest workers on a NATS JetStream stream: durable (file storage), with
// duplicate detection by the registry's event id, and one durable pull
// consumer that any number of workers share.
package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/layerq/layerq/internal/telemetry"
	"github.com/layerq/layerq/internal/webhook"
)

// Names of the stream, its subjects and the workers' consumer.
const (
	Name          = "LAYERQ_EVENTS"
	SubjectPrefix = "layerq.events"
	Consumer      = "layerq-workers"
)

// Settings of the stream and the consumer.
type Settings struct {
	// Replicas of the stream (1 for one server; 3 on a cluster).
	Replicas int
	// Duplicates is how long an event id is remembered, so a registry's
	// retry within it is stored once (default 24h).
	Duplicates time.Duration
	// MaxDeliver is how many deliveries an event gets on the event stream
	// before a worker that still cannot apply it for a passing reason moves
	// it to the deferred stream (default 10, about 6 minutes of backoff);
	// on the layer stream, how many a layer job gets before its failure is
	// recorded for the next `scan --layers`. The event stream itself never
	// stops redelivering.
	MaxDeliver int
	// MaxDelay caps the delay between redeliveries (default 2 minutes).
	MaxDelay time.Duration
	// AckWait is how long a worker may hold an event without acking it or
	// saying it is still in progress (default 60s).
	AckWait time.Duration
}

// Defaults fills in the zero fields.
func (s *Settings) Defaults() {
	if s.Replicas <= 0 {
		s.Replicas = 1
	}
	if s.Duplicates <= 0 {
		s.Duplicates = 24 * time.Hour
	}
	if s.MaxDeliver <= 0 {
		s.MaxDeliver = 10
	}
	if s.AckWait <= 0 {
		s.AckWait = 60 * time.Second
	}
	if s.MaxDelay <= 0 {
		s.MaxDelay = 2 * time.Minute
	}
}

// Backoff is the delay before redelivery n+1: 1s, 2s, 4s … capped at
// MaxDelay.
func (s Settings) Backoff(delivered uint64) time.Duration {
	s.Defaults()
	if delivered < 1 {
		delivered = 1
	}
	if delivered > 20 {
		return s.MaxDelay
	}
	return min(time.Duration(1<<(delivered-1))*time.Second, s.MaxDelay)
}

// Ensure creates the stream and the workers' consumer, or updates them to
// these settings. It is idempotent. The consumer redelivers an event until
// a worker acknowledges or terminates it: a worker terminates an event only
// once it is recorded elsewhere (a failure, the deferred stream).
func Ensure(ctx context.Context, js jetstream.JetStream, s Settings) (jetstream.Consumer, error) {
	return ensure(ctx, js, s, -1, Name, "layerq registry events", SubjectPrefix+".>", Consumer, "layerq ingest workers")
}

// ensure creates or updates a durable work-queue stream on subject and its
// one shared pull consumer, which delivers a message at most maxDeliver
// times (-1: until it is settled).
func ensure(ctx context.Context, js jetstream.JetStream, s Settings, maxDeliver int, name, about, subject, consumer, consumerAbout string) (jetstream.Consumer, error) {
	s.Defaults()
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        name,
		Description: about,
		Subjects:    []string{subject},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.WorkQueuePolicy,
		Replicas:    s.Replicas,
		Duplicates:  s.Duplicates,
		Discard:     jetstream.DiscardOld,
	})
	if err != nil {
		return nil, fmt.Errorf("creating stream %s: %w", name, err)
	}
	c, err := js.CreateOrUpdateConsumer(ctx, name, jetstream.ConsumerConfig{
		Durable:       consumer,
		Description:   consumerAbout,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.AckWait,
		MaxDeliver:    maxDeliver,
		MaxAckPending: 1000,
		FilterSubject: subject,
		Replicas:      s.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("creating consumer %s: %w", consumer, err)
	}
	return c, nil
}

// Subject is where an event is published: layerq.events.<source>.<action>.
func Subject(ev webhook.Event) string {
	return SubjectPrefix + "." + token(ev.Source) + "." + token(string(ev.Action))
}

// token makes s safe as one subject token.
func token(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '*' || r == '>' || r <= ' ' {
			return '_'
		}
		return r
	}, s)
}

// Publisher publishes events to the stream. Each message carries the
// publishing span's context in its headers, so the worker's spans join the
// webhook's trace.
type Publisher struct {
	js        jetstream.JetStream
	tracer    trace.Tracer
	published metric.Int64Counter
}

// NewPublisher returns a Publisher on js whose spans and counts go to tel.
func NewPublisher(js jetstream.JetStream, tel telemetry.Providers) *Publisher {
	p := &Publisher{js: js, tracer: tel.TracerFor()}
	// The instrument options are fixed and valid: errors cannot happen.
	p.published, _ = tel.MeterFor().Int64Counter("layerq.events.published", metric.WithUnit("{event}"),
		metric.WithDescription("Events stored on the stream (result=stored) or found there already (result=duplicate), from webhooks and the zot bridge."))
	return p
}

// span starts a producer span for a publish to subject.
func (p *Publisher) span(ctx context.Context, subject string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return p.tracer.Start(ctx, "publish "+subject, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(append([]attribute.KeyValue{
			attribute.String("messaging.system", "nats"), attribute.String("messaging.destination.name", subject),
		}, attrs...)...))
}

// ErrUnavailable wraps every failure to get an event stored: the caller
// should have the sender retry later.
var ErrUnavailable = errors.New("event stream unavailable")

// Publish stores ev and returns once JetStream has acknowledged it.
// duplicate is true when the stream already held an event with its id.
func (p *Publisher) Publish(ctx context.Context, ev webhook.Event) (duplicate bool, err error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return false, err
	}
	msg := &nats.Msg{Subject: Subject(ev), Data: body}
	ctx, span := p.span(ctx, msg.Subject, attribute.String("messaging.message.id", ev.ID))
	defer func() { telemetry.End(span, err) }()
	telemetry.InjectMsg(ctx, msg)
	ack, err := p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(ev.ID), jetstream.WithExpectStream(Name))
	if err != nil {
		return false, fmt.Errorf("%w: publishing event %s: %v", ErrUnavailable, ev.ID, err)
	}
	span.SetAttributes(attribute.Bool("layerq.duplicate", ack.Duplicate))
	result := "stored"
	if ack.Duplicate {
		result = "duplicate"
	}
	p.published.Add(ctx, 1, metric.WithAttributes(attribute.String("source", ev.Source),
		attribute.String("action", string(ev.Action)), attribute.String("result", result)))
	return ack.Duplicate, nil
}

// Decode reads an event from a stream message body.
func Decode(data []byte) (webhook.Event, error) {
	var ev webhook.Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return ev, fmt.Errorf("decoding event: %w", err)
	}
	if err := ev.Validate(); err != nil {
		return ev, fmt.Errorf("invalid event: %w", err)
	}
	return ev, nil
}
