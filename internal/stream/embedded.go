package stream

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// EmbeddedOptions configure an in-process NATS server with JetStream.
type EmbeddedOptions struct {
	// StoreDir holds the JetStream file store.
	StoreDir string
	// Listen makes the server accept network clients on 127.0.0.1:Port
	// (Port 0 picks a free one); otherwise only in-process connections.
	Listen bool
	Port   int
}

// StartEmbedded starts an in-process NATS server with JetStream whose file
// store syncs every write to disk before acknowledging it (sync_interval:
// always): JetStream's default, a sync every two minutes, can lose
// acknowledged writes on a power loss or kernel crash. Receivers answer a
// registry only after that acknowledgement, so an answered event is on disk.
func StartEmbedded(opts EmbeddedOptions) (*server.Server, error) {
	sopts := &server.Options{
		ServerName:         "layerq-embedded",
		JetStream:          true,
		StoreDir:           opts.StoreDir,
		SyncAlways:         true,
		SyncInterval:       2 * time.Minute,
		DontListen:         !opts.Listen,
		Host:               "127.0.0.1",
		Port:               opts.Port,
		NoLog:              true,
		NoSigs:             true,
		JetStreamMaxMemory: 64 << 20,
	}
	if opts.Listen && opts.Port == 0 {
		sopts.Port = server.RANDOM_PORT
	}
	s, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("configuring the embedded NATS server: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("the embedded NATS server did not start (store %s)", opts.StoreDir)
	}
	return s, nil
}

// InProcess returns the nats.Connect option that reaches s without a socket.
func InProcess(s *server.Server) nats.Option { return nats.InProcessServer(s) }
