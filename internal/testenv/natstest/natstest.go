// Package natstest runs a real NATS server with JetStream for tests: the
// embedded one layerq ships (in-process), with the layerq stream created.
package natstest

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/layerq/layerq/internal/quarantine"
	"github.com/layerq/layerq/internal/stream"
)

// Server is a running JetStream server with the layerq stream.
type Server struct {
	NATS     *server.Server
	Conn     *nats.Conn
	JS       jetstream.JetStream
	Consumer jetstream.Consumer
	// Quarantine and Deferred are the consumers of the quarantine and
	// deferred streams.
	Quarantine jetstream.Consumer
	Deferred   jetstream.Consumer
	Settings   stream.Settings
	dir        string
	port       int
}

// Start starts a server listening on a loopback port (so that it can be
// stopped and started again) with its store in a temp dir. AckWait is short
// so redelivery tests are quick.
func Start(t testing.TB, settings stream.Settings) *Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "layerq-nats-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{dir: dir, Settings: settings}
	s.Settings.Defaults()
	s.start(t, 0)
	t.Cleanup(func() {
		s.Conn.Close()
		s.NATS.Shutdown()
		s.NATS.WaitForShutdown()
	})
	return s
}

func (s *Server) start(t testing.TB, port int) {
	t.Helper()
	ns, err := stream.StartEmbedded(stream.EmbeddedOptions{StoreDir: s.dir, Listen: true, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	s.NATS = ns
	s.port = ns.Addr().(*net.TCPAddr).Port
	if s.Conn == nil {
		s.Conn, err = nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if s.JS, err = jetstream.New(s.Conn); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s.Consumer, err = stream.Ensure(ctx, s.JS, s.Settings); err != nil {
		t.Fatal(err)
	}
	if s.Quarantine, err = stream.EnsureQuarantine(ctx, s.JS, s.Settings); err != nil {
		t.Fatal(err)
	}
	if s.Deferred, err = stream.EnsureDeferred(ctx, s.JS, s.Settings); err != nil {
		t.Fatal(err)
	}
}

// Stop shuts the server down (clients see it gone).
func (s *Server) Stop() {
	s.NATS.Shutdown()
	s.NATS.WaitForShutdown()
}

// Restart starts the server again on the same port and store.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.start(t, s.port)
	// Wait for the client to reconnect.
	deadline := time.Now().Add(10 * time.Second)
	for !s.Conn.IsConnected() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

// Messages returns how many messages the stream holds.
func (s *Server) Messages(t testing.TB) uint64 {
	t.Helper()
	st, err := s.JS.Stream(context.Background(), stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// QuarantineItems returns the items on the quarantine stream, oldest first.
func (s *Server) QuarantineItems(t testing.TB) []quarantine.Item {
	t.Helper()
	ctx := context.Background()
	st, err := s.JS.Stream(ctx, stream.QuarantineName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []quarantine.Item
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		it, err := stream.DecodeQuarantine(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, it)
	}
	return out
}
