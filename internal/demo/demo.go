// Package demo runs layerq's live path on one machine, for people trying
// it: a local CNCF distribution registry that notifies an in-process serve
// (embedded JetStream, receiver, workers), sample images pushed to it, and
// a wait until every push has arrived in the graph through the webhooks and
// every layer is indexed; then a scan of the same registry, which finds
// nothing the webhooks missed. It links the registry and the image
// generator, so it is its own binary (cmd/demo), not part of layerq-ingest.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/layerq/layerq/internal/alert"
	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/localregistry"
	"github.com/layerq/layerq/internal/receiver"
	"github.com/layerq/layerq/internal/registries"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/serve"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/walker"
)

// demoRegistryName is what the graph calls the demo's registry, whatever
// port it got.
const demoRegistryName = "demo-registry"

// Options say where the demo runs.
type Options struct {
	// Pool is the graph's database (migrated).
	Pool *database.Pool
	// DataDir holds the demo's JetStream store (demo-nats, emptied first).
	DataDir string
	// Out hears what arrived; ErrOut, progress and warnings.
	Out, ErrOut io.Writer
}

// Run runs the demo until every pushed image is in the graph and indexed.
func Run(ctx context.Context, o Options) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	errOut, pool := o.ErrOut, o.Pool

	// The live path, in this process: an embedded JetStream, the
	// webhook receiver and the workers.
	natsDir := filepath.Join(o.DataDir, "demo-nats")
	if err := os.RemoveAll(natsDir); err != nil {
		return err
	}
	nc, stopNATS, err := serve.EmbeddedNATS(natsDir, []nats.Option{nats.Name("layerq-demo")})
	if err != nil {
		return err
	}
	defer stopNATS()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listening for webhooks: %w", err)
	}
	token := randomToken()
	reg, err := localregistry.Start(ctx, localregistry.Options{
		Notify:      "http://" + ln.Addr().String() + "/webhooks/distribution",
		NotifyToken: token,
	})
	if err != nil {
		return fmt.Errorf("starting the demo registry: %w", err)
	}
	defer reg.Close()
	regs, err := registries.New([]registries.Registry{{Name: demoRegistryName, Host: reg.Host}})
	if err != nil {
		return err
	}
	settings := stream.Settings{}
	settings.Defaults()
	// The alerts the pushes make, as a NATS subscriber receives them.
	alerts := make(chan alert.Alert, 16)
	sub, err := nc.Subscribe(alert.Subject(">"), func(m *nats.Msg) {
		var a alert.Alert
		if json.Unmarshal(m.Data, &a) == nil {
			select {
			case alerts <- a:
			default:
			}
		}
	})
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	served := make(chan error, 1)
	go func() {
		served <- serve.Run(ctx, serve.Config{
			Role: serve.RoleAll, Listener: ln, Registries: regs, NATS: nc, Settings: settings, Pool: pool, Workers: 4, LayerWorkers: 2,
			Alerts:      &serve.Alerts{Rules: alert.DefaultRules()},
			Credentials: map[string]receiver.Credentials{"distribution": {Tokens: []string{token}}},
			Log:         slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
	}()
	fmt.Fprintf(errOut, "demo registry (CNCF distribution) at %s, notifying layerq at %s\n", reg.Host, ln.Addr())

	start := time.Now()
	pushed, err := sample.Demo(ctx, reg.Host)
	if err != nil {
		return fmt.Errorf("pushing the demo images: %w", err)
	}
	fmt.Fprintf(errOut, "pushed %d references:\n", len(pushed))
	for _, p := range pushed {
		fmt.Fprintf(errOut, "  %-8s %s:%s\n", p.Kind, p.Repository, p.Tag)
	}
	store := graph.New(pool)
	if err := waitArrived(ctx, store, pushed); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "all %d references arrived in the graph through webhooks, %s after the first push\n", len(pushed), time.Since(start).Round(time.Millisecond))
	n, err := waitIndexed(ctx, store)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "%d layers indexed off the layer-scan stream, %s after the first push\n", n, time.Since(start).Round(time.Millisecond))

	// Debian's tag moved to a new build: the alert names the images left
	// on the old one.
	select {
	case a := <-alerts:
		fmt.Fprintf(o.Out, "alert on NATS %s:\n%s\n", a.Type, alert.Text(a))
	case <-time.After(10 * time.Second):
		return errors.New("no alert arrived on NATS within 10 s of the pushes")
	}

	// A scan of the same registry finds nothing the webhooks missed.
	w, err := walker.New(walker.Options{})
	if err != nil {
		return err
	}
	sum, err := scan.Run(ctx, store, w, scan.Options{Registry: reg.Host, Name: demoRegistryName, Repositories: repoglob.Compile("**")})
	if err != nil {
		return err
	}
	fmt.Fprintln(o.Out, sum)
	stop()
	<-served
	return nil
}

// waitArrived waits until every pushed tag is live in the graph at its
// digest (a tag pushed twice, at the later one's).
func waitArrived(ctx context.Context, store *graph.Store, pushed []sample.Pushed) error {
	deadline := time.Now().Add(20 * time.Second)
	last := map[string]sample.Pushed{}
	var order []string
	for _, p := range pushed {
		k := p.Repository + ":" + p.Tag
		if _, ok := last[k]; !ok {
			order = append(order, k)
		}
		last[k] = p
	}
	for {
		var missing []string
		for _, k := range order {
			p := last[k]
			st, err := store.Repository(ctx, demoRegistryName, p.Repository)
			if err != nil {
				return err
			}
			if st.Tags[p.Tag] != p.Digest {
				missing = append(missing, p.Repository+":"+p.Tag)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d pushed references did not arrive through webhooks within 20 seconds: %s", len(missing), len(pushed), strings.Join(missing, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitIndexed waits until the layer scanners have indexed every layer of the
// demo registry, and says how many layers the file index holds.
func waitIndexed(ctx context.Context, store *graph.Store) (int, error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		pending, err := store.PendingLayers(ctx, demoRegistryName, "")
		if err != nil {
			return 0, err
		}
		if len(pending) == 0 {
			return store.LayerIndexCount(ctx)
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%d layers were not indexed within 60 seconds (see ingest_failures and layer_rejections)", len(pending))
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
