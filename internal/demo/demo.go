// Package demo runs layerq's live path on one machine, for people trying
// it: a local CNCF distribution registry that notifies an in-process serve
// (embedded JetStream, receiver, workers), sample images pushed to it, and
// a wait until every tag of the pushed repositories (the pushed ones, and
// the referrers tag the SBOM's push makes) has arrived in the graph through
// the webhooks and every layer is indexed; then a scan of the same
// registry, which finds nothing the webhooks missed. It links the registry
// and the image generator, so it is its own binary (cmd/demo), not part of
// layerq-ingest.
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
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/layerq/layerq/internal/alert"
	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/localregistry"
	"github.com/layerq/layerq/internal/output"
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
	w, err := walker.New(walker.Options{})
	if err != nil {
		return err
	}
	want, made, err := registryTags(ctx, w, reg.Host, pushed)
	if err != nil {
		return err
	}
	if err := waitArrived(ctx, store, want); err != nil {
		return err
	}
	besides := ""
	if len(made) > 0 {
		besides = fmt.Sprintf(" (and %s the pushes made besides: %s)", output.Count(int64(len(made)), "tag", "tags"), strings.Join(made, ", "))
	}
	fmt.Fprintf(o.Out, "all %d references arrived in the graph through webhooks%s, %s after the first push\n", len(pushed), besides, time.Since(start).Round(time.Millisecond))
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
	sum, err := scan.Run(ctx, store, w, scan.Options{Registry: reg.Host, Name: demoRegistryName, Repositories: repoglob.Compile("**")})
	if err != nil {
		return err
	}
	fmt.Fprintln(o.Out, sum)
	stop()
	<-served
	return nil
}

// arrival is a tag the graph should hold live at a digest.
type arrival struct{ repository, tag, digest string }

// registryTags lists, as a scan would, every tag of the repositories the
// demo pushed to, each at the digest the registry gives for it now: the
// pushed tags (a tag pushed twice at its later digest) and the ones a push
// made besides, such as the sha256-<hex> tag go-containerregistry keeps
// for an artifact's subject where the registry has no referrers API. made
// names those others. A pushed tag the registry gives another digest than
// its last push's is an error.
func registryTags(ctx context.Context, w *walker.Walker, host string, pushed []sample.Pushed) (want []arrival, made []string, err error) {
	var repos []string
	ours := map[string]string{} // repository:tag → the digest pushed last
	for _, p := range pushed {
		if !slices.Contains(repos, p.Repository) {
			repos = append(repos, p.Repository)
		}
		ours[p.Repository+":"+p.Tag] = p.Digest
	}
	for _, r := range repos {
		repo, err := w.Repository(host, r)
		if err != nil {
			return nil, nil, err
		}
		tags, err := w.Puller().List(ctx, repo)
		if err != nil {
			return nil, nil, fmt.Errorf("listing the tags of %s in the demo registry: %w", r, err)
		}
		for _, t := range tags {
			d, err := w.Puller().Head(ctx, repo.Tag(t))
			if err != nil {
				return nil, nil, fmt.Errorf("reading %s:%s from the demo registry: %w", r, t, err)
			}
			want = append(want, arrival{r, t, d.Digest.String()})
			switch p, ok := ours[r+":"+t]; {
			case !ok:
				made = append(made, r+":"+t)
			case p != d.Digest.String():
				return nil, nil, fmt.Errorf("the demo registry holds %s:%s at %s, not at %s as pushed", r, t, d.Digest, p)
			}
		}
	}
	return want, made, nil
}

// waitArrived waits until every tag is live in the graph at its digest.
func waitArrived(ctx context.Context, store *graph.Store, want []arrival) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		var missing []string
		states := map[string]graph.RepositoryState{} // each repository read once a round
		for _, a := range want {
			st, ok := states[a.repository]
			if !ok {
				var err error
				if st, err = store.Repository(ctx, demoRegistryName, a.repository); err != nil {
					return err
				}
				states[a.repository] = st
			}
			if st.Tags[a.tag] != a.digest {
				missing = append(missing, a.repository+":"+a.tag)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d tags did not arrive through webhooks within 20 seconds: %s", len(missing), len(want), strings.Join(missing, ", "))
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
