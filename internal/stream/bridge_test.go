package stream_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/layerq/layerq/internal/quarantine"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/testenv/natstest"
	"github.com/layerq/layerq/internal/testenv/otlptest"
	"github.com/layerq/layerq/internal/webhook"
)

const zotUpdated = `{"specversion":"1.0","id":"5f9a3f0e-5b7c-4d1e-9c1a-2b0f6f3d8e11","source":"https://zot.example.com:5000",` +
	`"type":"zotregistry.image.updated","datacontenttype":"application/json","time":"2026-11-23T12:30:01Z",` +
	`"data":{"name":"golang","reference":"1.26","digest":"sha256:` + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `","mediaType":"application/vnd.oci.image.manifest.v1+json"}}`

// attribute knows one registry, "zot", at zot.example.com:5000.
func attribute(ev webhook.Event) (webhook.Event, error) {
	if ev.Registry != "zot.example.com:5000" {
		return ev, fmt.Errorf("registry not configured: %q", ev.Registry)
	}
	ev.Host, ev.Registry = ev.Registry, "zot"
	return ev, nil
}

// zot publishes CloudEvents to its own NATS subject; the bridge keeps them
// in a stream and feeds each, once, to the workers' stream; what it cannot
// use it keeps in the quarantine.
func TestBridgeFeedsZotEvents(t *testing.T) {
	t.Parallel()
	ns := natstest.Start(t, stream.Settings{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	rec := otlptest.NewRecorder()
	go func() {
		done <- stream.Bridge(ctx, ns.JS, "zot.events", 1, attribute, rec.Providers, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	// Wait for the bridge's stream, then publish as zot would: structured
	// mode, twice (zot retried), plus one message that is no CloudEvent, and
	// one in binary mode.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := ns.JS.Stream(ctx, stream.ZotStream); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bridge stream never appeared")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, m := range []*nats.Msg{
		{Subject: "zot.events", Data: []byte(zotUpdated)},
		{Subject: "zot.events", Data: []byte(zotUpdated)},
		{Subject: "zot.events", Data: []byte("hello")},
		{Subject: "zot.events", Data: []byte(strings.ReplaceAll(strings.ReplaceAll(zotUpdated, "zot.example.com", "other.example.com"), "5f9a3f0e", "00000000"))},
		{Subject: "zot.events", Header: nats.Header{"traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, "ce-id": {"b-1"}, "ce-specversion": {"1.0"}, "ce-type": {"zotregistry.image.deleted"},
			"ce-source": {"https://zot.example.com:5000"}, "ce-time": {"2026-11-23T12:31:00Z"}, "content-type": {"application/json"}},
			Data: []byte(`{"name":"golang","reference":"1.26","digest":"","mediaType":""}`)},
	} {
		if _, err := ns.JS.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	deadline = time.Now().Add(10 * time.Second)
	for ns.Messages(t) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("layerq stream holds %d messages, want 2 (one push, one tag delete)", ns.Messages(t))
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, _ := ns.JS.Stream(ctx, stream.Name)
	push, err := st.GetLastMsgForSubject(ctx, "layerq.events.cloudevents.push")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := stream.Decode(push.Data)
	if err != nil || ev.Registry != "zot" || ev.Host != "zot.example.com:5000" || ev.Repository != "golang" || ev.Tag != "1.26" || ev.ID != "5f9a3f0e-5b7c-4d1e-9c1a-2b0f6f3d8e11" {
		t.Fatalf("bridged event = %+v, %v", ev, err)
	}
	if _, err := st.GetLastMsgForSubject(ctx, "layerq.events.cloudevents.tag_delete"); err != nil {
		t.Fatalf("binary-mode delete not bridged: %v", err)
	}
	items := ns.QuarantineItems(t)
	if len(items) != 2 || items[0].Reason != quarantine.UnparseableBody || string(items[0].Data) != "hello" ||
		items[1].Reason != quarantine.UnknownRegistry || !strings.Contains(string(items[1].Data), "other.example.com:5000") {
		t.Fatalf("quarantined %+v", items)
	}
	// Counted as published, the retry as a duplicate; the binary-mode
	// message's trace context (a lowercase NATS header) is carried on.
	for _, c := range []struct {
		attrs []string
		want  float64
	}{
		{[]string{"source", "cloudevents", "action", "push", "result", "stored"}, 1},
		{[]string{"source", "cloudevents", "action", "push", "result", "duplicate"}, 1},
		{[]string{"action", "tag_delete", "result", "stored"}, 1},
	} {
		if v := rec.Value(t, "layerq.events.published", c.attrs...); v != c.want {
			t.Errorf("layerq.events.published%v = %v, want %v", c.attrs, v, c.want)
		}
	}
	carried := false
	for _, s := range rec.Spans() {
		if s.SpanContext().TraceID().String() == "0af7651916cd43dd8448eb211c80319c" && s.Parent().SpanID().String() == "b7ad6b7169203331" {
			carried = true
		}
	}
	if !carried {
		t.Errorf("the bridged delete's publish span is not in the trace its message carried")
	}
}
