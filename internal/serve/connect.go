package serve

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/layerq/layerq/internal/redact"
)

// NATSConfig says how a serve process reaches NATS.
type NATSConfig struct {
	// URL is the server(s) to connect to; "" starts the embedded
	// JetStream server with its store under DataDir (role all only).
	URL string
	// Creds, NKey: a credentials file or an nkey seed file. CA, Cert,
	// Key: TLS files.
	Creds, NKey, CA, Cert, Key string
	// Role names the connection (layerq-ROLE).
	Role    string
	DataDir string
}

// ConnectNATS connects as cfg says, or starts the embedded server when no
// URL is given and says so on w. stop closes the connection (and stops
// the embedded server).
func ConnectNATS(cfg NATSConfig, w io.Writer) (nc *nats.Conn, stop func(), err error) {
	// RetryOnFailedConnect: a process started while NATS is down connects
	// when it comes up, as it reconnects after a restart.
	opts := []nats.Option{nats.Name("layerq-" + cfg.Role), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second), nats.RetryOnFailedConnect(true)}
	if cfg.URL != "" {
		if cfg.Creds != "" {
			opts = append(opts, nats.UserCredentials(cfg.Creds))
		}
		if cfg.NKey != "" {
			o, err := nats.NkeyOptionFromSeed(cfg.NKey)
			if err != nil {
				return nil, nil, fmt.Errorf("reading the NATS nkey seed: %w", err)
			}
			opts = append(opts, o)
		}
		if cfg.CA != "" {
			opts = append(opts, nats.RootCAs(cfg.CA))
		}
		if cfg.Cert != "" || cfg.Key != "" {
			opts = append(opts, nats.ClientCert(cfg.Cert, cfg.Key))
		}
		nc, err := nats.Connect(cfg.URL, opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("connecting to NATS at %s: %w", redact.URL(cfg.URL), redact.Error(err, cfg.URL))
		}
		return nc, nc.Close, nil
	}
	if cfg.Role != RoleAll {
		return nil, nil, errors.New("--role receiver and worker run in separate processes, which need a shared NATS server: set --nats-url (or NATS_URL)")
	}
	dir := filepath.Join(cfg.DataDir, "nats")
	nc, stop, err = EmbeddedNATS(dir, opts)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(w, "layerq: no NATS URL given; using an embedded JetStream server with its store in %s\n", dir)
	return nc, stop, nil
}

// Listen listens on addr, serving HTTPS with the certificate and key files
// when given (both or neither).
func Listen(addr, certFile, keyFile string) (net.Listener, error) {
	var tlsConfig *tls.Config
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return nil, errors.New("HTTPS needs both --tls-cert and --tls-key")
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("loading the TLS certificate (--tls-cert, --tls-key): %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	return ln, nil
}
