// Package settle runs a consumer of a JetStream work queue: it fetches each
// message, decodes it, tells the server the message is in progress while a
// handler works on it, and settles it with the stream by what the handler's
// result means:
//
//   - done: acknowledged;
//   - the loop stopping: handed back at once (Nak) for another consumer;
//   - a message that can never succeed (undecodable, or an error the
//     handler calls permanent, a data error): recorded by the handler, then
//     terminated; while the record cannot be written, retried instead;
//   - a passing failure after MaxDeliver deliveries, when there is a
//     deferred stream: moved there, then terminated; while it cannot be
//     moved, retried instead;
//   - any other failure: handed back with a growing delay (NakWithDelay).
//
// A message is terminated only once it is durably kept elsewhere. The
// handler hears how each delivery was settled, for its metrics and logs.
package settle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/telemetry"
)

// Handler does what is particular to one consumer: the work a message
// asks for, what makes a failure permanent, and where a message that can
// never succeed is recorded. It is called from Concurrency goroutines at
// once.
type Handler[T any] interface {
	// Handle does what m asks. nil means done: m is acknowledged. An error
	// is classified with Permanent, unless the loop is stopping (then m is
	// handed back at once). ErrUnsettled leaves m unsettled.
	Handle(ctx context.Context, m T) error
	// Permanent reports whether err means the message can never succeed
	// (a data error, a reference that is gone): it is then recorded and
	// terminated, instead of retried.
	Permanent(err error) bool
	// Record durably keeps a message that can never succeed, and why (err),
	// before it is terminated; data is the message body, delivered its
	// delivery count. m is the zero T when data could not be decoded (err
	// is then the decoding's). An error keeps the message: it is retried.
	Record(ctx context.Context, m T, data []byte, err error, delivered uint64) error
	// Settled hears how a delivery was settled, once the stream was told
	// (for metrics and logs); ctx carries the delivery's span. m is the
	// zero T when data could not be decoded.
	Settled(ctx context.Context, m T, s Settlement)
}

// Deferrer moves a message that keeps failing for a passing reason to a
// deferred stream; *stream.Publisher is one (through a method of the
// message's kind).
type Deferrer[T any] interface {
	// Defer stores m's message (data, with the headers it came with and
	// the reason) on the deferred stream, and returns once it is stored
	// durably, or fails.
	Defer(ctx context.Context, m T, data []byte, header nats.Header, reason string) error
}

// ErrUnsettled, returned by Handle, leaves the message unsettled, as a
// crash would: the server delivers it again once AckWait has passed. It is
// for failure tests.
var ErrUnsettled = errors.New("left unsettled")

// Outcome says how a delivery was settled.
type Outcome int

// Outcomes.
const (
	// Done: handled, and acknowledged.
	Done Outcome = iota + 1
	// Retried: failed for a passing reason (or could not be recorded or
	// deferred), and handed back to be delivered again after Delay.
	Retried
	// Released: the loop was stopping; handed back to be delivered again
	// at once.
	Released
	// Failed: can never succeed; recorded, then terminated.
	Failed
	// Deferred: still failing after MaxDeliver deliveries; stored on the
	// deferred stream, then terminated.
	Deferred
)

// String returns "done", "retried", "released", "failed" or "deferred".
func (o Outcome) String() string {
	switch o {
	case Done:
		return "done"
	case Retried:
		return "retried"
	case Released:
		return "released"
	case Failed:
		return "failed"
	case Deferred:
		return "deferred"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Settlement is how one delivery was settled.
type Settlement struct {
	Outcome Outcome
	// Err is why the message is not done: the handler's error or the
	// decoding's, with, when recording or deferring the message failed,
	// that failure. Nil for Done.
	Err error
	// Delivered is how many times the message was delivered, this time
	// included.
	Delivered uint64
	// Delay is how long the server waits before delivering a Retried
	// message again.
	Delay time.Duration
	// Stored is when the stream stored the message (zero when unknown).
	Stored time.Time
}

// Options shape a Loop. A zero field takes its default; the defaults are
// those of stream.Settings.
type Options struct {
	// Concurrency is how many messages are handled at once (default 1).
	Concurrency int
	// MaxDeliver is how many deliveries a message gets before a passing
	// failure moves it to the deferred stream (default 10).
	MaxDeliver int
	// MaxDelay caps the delay between deliveries (default 2 minutes).
	MaxDelay time.Duration
	// AckWait must match the consumer's (default 60s): a message being
	// handled is said to be in progress every third of it.
	AckWait time.Duration
	// Log receives the loop's own lines (default: discarded).
	Log *slog.Logger
	// Tracer starts a consumer span per delivery, in the trace the
	// message's headers carry (default: none).
	Tracer trace.Tracer
}

// Defaults fills in the zero fields.
func (o *Options) Defaults() {
	s := stream.Settings{MaxDeliver: o.MaxDeliver, MaxDelay: o.MaxDelay, AckWait: o.AckWait}
	s.Defaults()
	o.MaxDeliver, o.MaxDelay, o.AckWait = s.MaxDeliver, s.MaxDelay, s.AckWait
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Tracer == nil {
		o.Tracer = tracenoop.NewTracerProvider().Tracer(telemetry.Scope)
	}
}

// Loop consumes one stream's messages of type T.
type Loop[T any] struct {
	// Name says what is consumed, for the log ("events").
	Name string
	// Item names one message, for the log ("an event").
	Item string
	// Decode reads a message body; a failure makes the message one that
	// can never succeed.
	Decode func(data []byte) (T, error)
	// Handler handles each decoded message.
	Handler Handler[T]
	// Deferrer, when set, takes a message still failing for a passing
	// reason after MaxDeliver deliveries; without it (as on a deferred
	// stream itself) such a message is retried, at the capped delay, for as
	// long as it fails.
	Deferrer Deferrer[T]
	Options  Options
}

// Run consumes messages from cons until ctx ends, then drains: it fetches
// nothing more, finishes the messages in hand, and returns.
func (l *Loop[T]) Run(ctx context.Context, cons jetstream.Consumer) error {
	o := l.Options
	o.Defaults()
	return consume(ctx, cons, o.Concurrency, l.Name, o.Log, func(msg jetstream.Msg) { l.process(ctx, o, msg) })
}

// process handles one delivery and settles it with the stream.
func (l *Loop[T]) process(ctx context.Context, o Options, msg jetstream.Msg) {
	s := Settlement{Delivered: 1}
	if meta, err := msg.Metadata(); err == nil {
		s.Delivered, s.Stored = meta.NumDelivered, meta.Timestamp
	}
	ctx, span := o.Tracer.Start(telemetry.Extract(ctx, msg.Headers()), "process "+msg.Subject(),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.system", "nats"), attribute.String("messaging.destination.name", msg.Subject()),
			attribute.Int64("messaging.delivery.count", int64(s.Delivered))))
	m, err := l.Decode(msg.Data())
	if err != nil {
		var zero T
		m = zero
		l.fail(ctx, o, msg, m, err, &s)
	} else {
		// Long work says it is still in progress, so the server does not
		// hand the message to another consumer meanwhile.
		stop := keepAlive(msg, o.AckWait)
		err = l.Handler.Handle(ctx, m)
		stop()
		switch {
		case errors.Is(err, ErrUnsettled):
			span.End()
			return
		case err == nil:
			l.tell(o, msg.Ack())
			s.Outcome = Done
		case ctx.Err() != nil:
			// Stopping: hand the message back at once.
			l.tell(o, msg.Nak())
			s.Outcome, s.Err = Released, err
		case l.Handler.Permanent(err):
			l.fail(ctx, o, msg, m, err, &s)
		case l.Deferrer != nil && s.Delivered >= uint64(o.MaxDeliver):
			reason := fmt.Sprintf("still failing after %d deliveries: %v", s.Delivered, err)
			if derr := l.Deferrer.Defer(context.WithoutCancel(ctx), m, msg.Data(), msg.Headers(), reason); derr != nil {
				l.retry(o, msg, fmt.Errorf("%v; deferring it: %w", err, derr), &s)
				break
			}
			l.tell(o, msg.Term())
			s.Outcome, s.Err = Deferred, err
		default:
			l.retry(o, msg, err, &s)
		}
	}
	l.Handler.Settled(ctx, m, s)
	telemetry.End(span, s.Err)
}

// fail records a message that can never succeed, then terminates it; while
// the record cannot be written, it is retried instead.
func (l *Loop[T]) fail(ctx context.Context, o Options, msg jetstream.Msg, m T, err error, s *Settlement) {
	if rerr := l.Handler.Record(context.WithoutCancel(ctx), m, msg.Data(), err, s.Delivered); rerr != nil {
		l.retry(o, msg, fmt.Errorf("%v; %w", err, rerr), s)
		return
	}
	l.tell(o, msg.Term())
	s.Outcome, s.Err = Failed, err
}

// retry hands the message back to be delivered again after the backoff
// delay.
func (l *Loop[T]) retry(o Options, msg jetstream.Msg, err error, s *Settlement) {
	s.Outcome, s.Err = Retried, err
	s.Delay = stream.Settings{MaxDelay: o.MaxDelay}.Backoff(s.Delivered)
	l.tell(o, msg.NakWithDelay(s.Delay))
}

// tell logs a failure to settle a message with the stream: the server then
// delivers it again once AckWait has passed.
func (l *Loop[T]) tell(o Options, err error) {
	if err != nil {
		o.Log.Warn("settling "+l.Item+" with the stream", "err", err)
	}
}

// consume runs handle on the messages of cons, concurrency at a time, until
// ctx ends; then it drains: it fetches nothing more, lets the handlers in
// flight finish, and returns. name says what is consumed, for the log.
func consume(ctx context.Context, cons jetstream.Consumer, concurrency int, name string, log *slog.Logger, handle func(jetstream.Msg)) error {
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

// keepAlive tells the server every ackWait/3 that msg is still being
// worked on, so it is not handed to another consumer meanwhile, until the
// returned function is called.
func keepAlive(msg jetstream.Msg, ackWait time.Duration) (stop func()) {
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
