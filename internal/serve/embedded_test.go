package serve_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/layerq/layerq/internal/serve"
)

// Two serve processes on one data directory would run two JetStream
// servers on one store, each taking the other's events: the second is
// refused, saying who holds the store and what to do instead, and the
// store is free again once the first stops.
func TestEmbeddedNATSOneServePerStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nats")
	nc, stop, err := serve.EmbeddedNATS(dir, []nats.Option{})
	if err != nil {
		t.Fatal(err)
	}
	if !nc.IsConnected() {
		t.Fatal("not connected to the embedded server")
	}
	_, _, err = serve.EmbeddedNATS(dir, []nats.Option{})
	want := fmt.Sprintf("the embedded NATS store in %s is in use by process %d (a layerq-ingest serve on the same data directory): run one serve per --data-dir, or share a NATS server between them with --nats-url", dir, os.Getpid())
	if err == nil || err.Error() != want {
		t.Fatalf("a second serve on the store: %v\nwant %s", err, want)
	}
	stop()
	nc, stop, err = serve.EmbeddedNATS(dir, []nats.Option{})
	if err != nil {
		t.Fatalf("the store after the first serve stopped: %v", err)
	}
	defer stop()
	if !nc.IsConnected() {
		t.Fatal("not connected after the restart")
	}
}
