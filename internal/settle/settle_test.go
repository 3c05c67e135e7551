package settle_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/layerq/layerq/internal/settle"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/testenv/natstest"
)

// job is the test's message: what its handler is scripted to do.
type job struct {
	ID string `json:"id"`
	// Transient failures before success (-1: for ever); Permanent fails it
	// for good; Slow holds it that long; Unrecordable failures to record it.
	Transient    int           `json:"transient"`
	Permanent    bool          `json:"permanent"`
	Slow         time.Duration `json:"slow"`
	Unrecordable int           `json:"unrecordable"`
	// Stuck waits, at its first delivery, for the loop to stop.
	Stuck bool `json:"stuck"`
}

func decode(data []byte) (job, error) {
	var j job
	if err := json.Unmarshal(data, &j); err != nil {
		return job{}, fmt.Errorf("decoding job: %w", err)
	}
	if j.ID == "" {
		return job{}, errors.New("invalid job: no id")
	}
	return j, nil
}

var (
	errTransient = errors.New("dependency down")
	errPermanent = errors.New("can never succeed")
)

// scripted is a settle.Handler doing what each job says. Its journal lists
// in order what it recorded, interleaved (by the bundle) with what the
// stream was told.
type scripted struct {
	mu       sync.Mutex
	handled  map[string]int
	recorded map[string]int
	journal  *journal
}

func (h *scripted) Handle(ctx context.Context, j job) error {
	h.mu.Lock()
	h.handled[j.ID]++
	n := h.handled[j.ID]
	h.mu.Unlock()
	switch {
	case j.Stuck && n == 1:
		<-ctx.Done()
		return ctx.Err()
	case j.Slow > 0:
		time.Sleep(j.Slow)
	case j.Permanent:
		return errPermanent
	case j.Transient < 0 || n <= j.Transient:
		return errTransient
	}
	return nil
}

func (h *scripted) Permanent(err error) bool { return errors.Is(err, errPermanent) }

func (h *scripted) Record(_ context.Context, j job, _ []byte, err error, delivered uint64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recorded[j.ID]++
	if h.recorded[j.ID] <= j.Unrecordable {
		return errors.New("database down")
	}
	h.journal.add(fmt.Sprintf("record %q delivery %d: %v", j.ID, delivered, err))
	return nil
}

func (h *scripted) Settled(context.Context, job, settle.Settlement) {}

func (h *scripted) calls(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.handled[id]
}

// deferrer stores messages on the deferred stream, after failing its first
// failures calls.
type deferrer struct {
	js       jetstream.JetStream
	mu       sync.Mutex
	failures int
}

func (d *deferrer) Defer(ctx context.Context, j job, data []byte, header nats.Header, reason string) error {
	d.mu.Lock()
	fail := d.failures > 0
	d.failures--
	d.mu.Unlock()
	if fail {
		return errors.New("deferred stream down")
	}
	msg := &nats.Msg{Subject: stream.DeferredSubjectPrefix + ".test", Data: data, Header: nats.Header{}}
	msg.Header.Set("Layerq-Deferred-Reason", reason)
	_, err := d.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(stream.DeferredName))
	return err
}

// journal is an ordered log, safe for concurrent use.
type journal struct {
	mu      sync.Mutex
	entries []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = append(j.entries, s)
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.entries...)
}

// wire returns the journal's entries about what the stream was told, in
// order, without the progress reports ("+WPI").
func (j *journal) wire() []string {
	var out []string
	for _, e := range j.list() {
		if strings.HasPrefix(e, "delivery ") && !strings.HasSuffix(e, "+WPI") {
			out = append(out, e)
		}
	}
	return out
}

func (j *journal) count(suffix string) int {
	n := 0
	for _, e := range j.list() {
		if strings.HasSuffix(e, suffix) {
			n++
		}
	}
	return n
}

type bundle struct {
	ns      *natstest.Server
	h       *scripted
	journal *journal
	def     *deferrer
}

// setup starts JetStream (AckWait 1s) and taps the replies consumers send
// to the event stream: every ack, nak, term and progress report, as the
// server receives it, goes to the journal as "delivery <n>: <reply>".
func setup(t *testing.T) *bundle {
	t.Helper()
	ns := natstest.Start(t, stream.Settings{AckWait: time.Second})
	jr := &journal{}
	sub, err := ns.Conn.Subscribe("$JS.ACK.>", func(m *nats.Msg) {
		tokens := strings.Split(m.Subject, ".")
		var stream, delivered string
		switch {
		case len(tokens) == 9: // $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
			stream, delivered = tokens[2], tokens[4]
		case len(tokens) >= 11: // with the domain and account hash after ACK
			stream, delivered = tokens[4], tokens[6]
		default:
			t.Errorf("ack subject %q", m.Subject)
			return
		}
		jr.add(fmt.Sprintf("delivery %s of %s: %s", delivered, stream, strings.TrimSpace(string(m.Data))))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	if err := ns.Conn.Flush(); err != nil {
		t.Fatal(err)
	}
	return &bundle{ns: ns, journal: jr, def: &deferrer{js: ns.JS},
		h: &scripted{handled: map[string]int{}, recorded: map[string]int{}, journal: jr}}
}

// loop is a settle loop on the bundle's handler: three deliveries before a
// deferral, 100ms between retries.
func (b *bundle) loop(deferrer bool) *settle.Loop[job] {
	l := &settle.Loop[job]{Name: "jobs", Item: "a job", Decode: decode, Handler: b.h,
		Options: settle.Options{Concurrency: 2, MaxDeliver: 3, MaxDelay: 100 * time.Millisecond, AckWait: time.Second}}
	if deferrer {
		l.Deferrer = b.def
	}
	return l
}

// run runs l on cons until the returned function is called or the test
// ends.
func run(t *testing.T, l *settle.Loop[job], cons jetstream.Consumer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, cons) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func (b *bundle) publish(t *testing.T, body string) {
	t.Helper()
	if _, err := b.ns.JS.Publish(context.Background(), stream.SubjectPrefix+".test.push", []byte(body)); err != nil {
		t.Fatal(err)
	}
}

func (b *bundle) info(t *testing.T, cons jetstream.Consumer) *jetstream.ConsumerInfo {
	t.Helper()
	info, err := cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func (b *bundle) messages(t *testing.T, name string) uint64 {
	t.Helper()
	st, err := b.ns.JS.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settled waits until the event consumer holds nothing, then a little
// longer, so that a late reply would be seen.
func (b *bundle) settled(t *testing.T) {
	t.Helper()
	eventually(t, "the message settled", func() bool {
		i := b.info(t, b.ns.Consumer)
		return i.NumAckPending == 0 && i.NumPending == 0 && i.Delivered.Consumer > 0
	})
	time.Sleep(300 * time.Millisecond)
}

// check compares the stream's view of the event consumer and the two
// streams with what the test expects.
func (b *bundle) check(t *testing.T, deliveries uint64, ackPending, redelivered int, events, deferred uint64) {
	t.Helper()
	i := b.info(t, b.ns.Consumer)
	if i.Delivered.Consumer != deliveries || i.NumAckPending != ackPending || i.NumRedelivered != redelivered {
		t.Errorf("consumer: %d deliveries, %d ack pending, %d redelivered; want %d, %d, %d",
			i.Delivered.Consumer, i.NumAckPending, i.NumRedelivered, deliveries, ackPending, redelivered)
	}
	if n := b.messages(t, stream.Name); n != events {
		t.Errorf("%d messages on the event stream, want %d", n, events)
	}
	if n := b.messages(t, stream.DeferredName); n != deferred {
		t.Errorf("%d messages on the deferred stream, want %d", n, deferred)
	}
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

const (
	ack  = ": +ACK"
	term = ": +TERM"
)

func nak(delay time.Duration) string {
	return `: -NAK {"delay": ` + strconv.FormatInt(int64(delay), 10) + `}`
}

func delivery(n int, reply string) string {
	return fmt.Sprintf("delivery %d of %s%s", n, stream.Name, reply)
}

func TestSettle(t *testing.T) {
	t.Parallel()
	const delay = 100 * time.Millisecond
	t.Run("done", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		run(t, b.loop(true), b.ns.Consumer)
		b.publish(t, `{"id":"ok"}`)
		b.settled(t)
		equal(t, "replies", b.journal.wire(), []string{delivery(1, ack)})
		b.check(t, 1, 0, 0, 0, 0)
	})
	t.Run("transient failures retried with a delay", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		run(t, b.loop(true), b.ns.Consumer)
		b.publish(t, `{"id":"flaky","transient":2}`)
		b.settled(t)
		equal(t, "replies", b.journal.wire(), []string{delivery(1, nak(delay)), delivery(2, nak(delay)), delivery(3, ack)})
		b.check(t, 3, 0, 0, 0, 0)
	})
	t.Run("permanent failure recorded, then terminated", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		run(t, b.loop(true), b.ns.Consumer)
		b.publish(t, `{"id":"bad","permanent":true}`)
		b.settled(t)
		equal(t, "record, then replies", b.journal.list(), []string{`record "bad" delivery 1: can never succeed`, delivery(1, term)})
		b.check(t, 1, 0, 0, 0, 0)
	})
	t.Run("undecodable message recorded, then terminated", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		run(t, b.loop(true), b.ns.Consumer)
		b.publish(t, `{"id":`)
		b.settled(t)
		equal(t, "record, then replies", b.journal.list(), []string{`record "" delivery 1: decoding job: unexpected end of JSON input`, delivery(1, term)})
		b.check(t, 1, 0, 0, 0, 0)
	})
	t.Run("terminated only once recorded", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		run(t, b.loop(true), b.ns.Consumer)
		b.publish(t, `{"id":"bad","permanent":true,"unrecordable":2}`)
		b.settled(t)
		equal(t, "replies and record", b.journal.list(), []string{
			delivery(1, nak(delay)), delivery(2, nak(delay)), `record "bad" delivery 3: can never succeed`, delivery(3, term)})
		b.check(t, 3, 0, 0, 0, 0)
	})
	t.Run("deferred after the retry budget", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.def.failures = 1 // the first move fails: retried, moved at the next
		run(t, b.loop(true), b.ns.Consumer)
		b.publish(t, `{"id":"down","transient":-1}`)
		b.settled(t)
		equal(t, "replies", b.journal.wire(), []string{
			delivery(1, nak(delay)), delivery(2, nak(delay)), delivery(3, nak(delay)), delivery(4, term)})
		b.check(t, 4, 0, 0, 0, 1)
		st, err := b.ns.JS.Stream(context.Background(), stream.DeferredName)
		if err != nil {
			t.Fatal(err)
		}
		m, err := st.GetLastMsgForSubject(context.Background(), stream.DeferredSubjectPrefix+".test")
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Data) != `{"id":"down","transient":-1}` || m.Header.Get("Layerq-Deferred-Reason") != "still failing after 4 deliveries: dependency down" {
			t.Errorf("deferred message %s, reason %q", m.Data, m.Header.Get("Layerq-Deferred-Reason"))
		}
	})
	t.Run("retried for ever without a deferred stream", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		stop := run(t, b.loop(false), b.ns.Consumer)
		b.publish(t, `{"id":"down","transient":-1}`)
		eventually(t, "six deliveries", func() bool { return b.journal.count(nak(delay)) >= 6 })
		stop()
		time.Sleep(300 * time.Millisecond)
		if n := b.journal.count(term); n != 0 {
			t.Errorf("%d terminations", n)
		}
		if n := b.messages(t, stream.Name); n != 1 {
			t.Errorf("%d messages on the event stream, want 1", n)
		}
		if n := b.messages(t, stream.DeferredName); n != 0 {
			t.Errorf("%d messages on the deferred stream, want 0", n)
		}
	})
	t.Run("long work kept alive, never redelivered", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		run(t, b.loop(true), b.ns.Consumer)
		b.publish(t, fmt.Sprintf(`{"id":"slow","slow":%d}`, 3*time.Second))
		// Two AckWaits in, the message is still held by its first delivery.
		eventually(t, "the work started", func() bool { return b.h.calls("slow") == 1 })
		time.Sleep(2 * time.Second)
		b.check(t, 1, 1, 0, 1, 0)
		b.settled(t)
		equal(t, "replies", b.journal.wire(), []string{delivery(1, ack)})
		if n := b.journal.count(": +WPI"); n < 6 {
			t.Errorf("%d progress reports in 3s with AckWait 1s, want 6 at least", n)
		}
		b.check(t, 1, 0, 0, 0, 0)
		if n := b.h.calls("slow"); n != 1 {
			t.Errorf("handled %d times", n)
		}
	})
	t.Run("handed back at once when stopping", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		stop := run(t, b.loop(true), b.ns.Consumer)
		b.publish(t, `{"id":"stuck","stuck":true}`)
		eventually(t, "the work started", func() bool { return b.h.calls("stuck") == 1 })
		stop()
		eventually(t, "the reply", func() bool { return len(b.journal.wire()) >= 1 })
		equal(t, "first reply", b.journal.wire()[:1], []string{delivery(1, ": -NAK")})
		// The next loop has it at once, and settles it. (Handed back while
		// the loop drained, it can also go to the loop's other
		// subscription, whose pull request was already waiting at the
		// server: seen under load. It is then settled there, once, all the
		// same.)
		run(t, b.loop(true), b.ns.Consumer)
		b.settled(t)
		equal(t, "replies", b.journal.wire(), []string{delivery(1, ": -NAK"), delivery(2, ack)})
		b.check(t, 2, 0, 0, 0, 0)
	})
}
