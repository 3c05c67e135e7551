package registrytest

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/sirupsen/logrus"

	"github.com/layerq/layerq/internal/localregistry"
)

// DistributionOptions configure an in-process CNCF distribution registry.
type DistributionOptions struct {
	// CatalogMaxEntries caps a catalog page (default 1000, as distribution).
	CatalogMaxEntries int
	// Configure may change the configuration further (notifications...).
	Configure func(*configuration.Configuration)
}

// NewDistribution starts the CNCF distribution registry in-process, with
// in-memory storage and deletes enabled, behind the request log and the
// interceptor.
func NewDistribution(t testing.TB, opts DistributionOptions) *Server {
	t.Helper()
	logrus.SetOutput(io.Discard)
	cfg := localregistry.Config(localregistry.Options{CatalogMaxEntries: opts.CatalogMaxEntries, Configure: opts.Configure})
	return serve(t, handlers.NewApp(context.Background(), cfg))
}

// NewNotifyingDistribution starts the CNCF distribution registry notifying
// url of every event (with the references of manifests), sending the bearer
// token, retrying a failed delivery after 200 ms.
func NewNotifyingDistribution(t testing.TB, url, token string) *Server {
	t.Helper()
	return NewDistribution(t, DistributionOptions{Configure: func(c *configuration.Configuration) {
		c.Notifications.EventConfig.IncludeReferences = true
		c.Notifications.Endpoints = []configuration.Endpoint{{
			Name: "layerq", URL: url, Timeout: 2 * time.Second, Threshold: 3, Backoff: 200 * time.Millisecond,
			Headers: http.Header{"Authorization": {"Bearer " + token}},
		}}
	}})
}

// NewDistributionProcess starts the CNCF distribution registry with
// in-memory storage in a process of its own (bench/cmd/benchregistry
// -empty, built here), as it runs in production: for benchmarks that
// compare a client's rate with the registry's own. In the test's process
// the registry's garbage collection, about 4 MiB allocated for each blob
// it serves, would scan the client's heap too. Neither Intercept nor
// Requests works on it. It stops when the test ends, and with the test's
// process.
func NewDistributionProcess(t testing.TB) *Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "layerq-registry-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir) // the binary, once its process runs
	bin := filepath.Join(dir, "benchregistry")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/layerq/layerq/bench/cmd/benchregistry").CombinedOutput(); err != nil {
		t.Fatalf("registrytest: building the registry: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-empty")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // gone with the test's process
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("registrytest: starting the registry: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	s := &Server{}
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if host, ok := strings.CutPrefix(lines.Text(), "registry "); ok {
			s.Host = host
		}
		if lines.Text() == "ready" {
			break
		}
	}
	if s.Host == "" {
		t.Fatalf("registrytest: the registry did not start: %v", lines.Err())
	}
	go io.Copy(io.Discard, out)
	return s
}
