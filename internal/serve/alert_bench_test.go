package serve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/layerq/layerq/internal/alert"
	"github.com/layerq/layerq/internal/receiver"
	"github.com/layerq/layerq/internal/registries"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/serve"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
)

// alertRounds is how many base rebuilds (each followed by an app rebuilt
// on it, grown) one iteration pushes.
const alertRounds = 20

// BenchmarkPushToAlert measures how long an alert follows the push that
// causes it, on the live path as deployed: the CNCF distribution registry
// notifies serve (embedded JetStream, Postgres), whose worker writes the
// push, folds it, makes the alert and publishes it on NATS, where a
// subscriber receives it. Each round pushes a rebuilt base tag (a
// base_moved alert: the app is on its old build) and then the app rebuilt
// on it, grown (an image_grew alert); latency is from the start of the
// push (remote.Write) to the alert's arrival.
func BenchmarkPushToAlert(b *testing.B) {
	var p50s, p99s []float64
	for range b.N {
		b.StopTimer()
		lat := pushToAlert(b)
		slices.Sort(lat)
		p50s = append(p50s, lat[len(lat)/2])
		p99s = append(p99s, lat[len(lat)*99/100])
		b.StartTimer()
	}
	b.ReportMetric(median(p50s), "p50_ms")
	b.ReportMetric(median(p99s), "p99_ms")
	b.ReportMetric(0, "ns/op")
}

func pushToAlert(b *testing.B) []float64 {
	pool, err := pgxpool.New(context.Background(), pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	nc, stopNATS, err := serve.EmbeddedNATS(b.TempDir(), []nats.Option{})
	if err != nil {
		b.Fatal(err)
	}
	defer stopNATS()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	reg := registrytest.NewNotifyingDistribution(b, "http://"+ln.Addr().String()+"/webhooks/distribution", "t")
	regs, _ := registries.New([]registries.Registry{{Host: reg.Host}})
	settings := stream.Settings{}
	settings.Defaults()
	rules := alert.DefaultRules()
	rules.GrowOverBytes, rules.GrowOverPercent = 1000, 1
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- serve.Run(ctx, serve.Config{Role: serve.RoleAll, Listener: ln, Registries: regs, NATS: nc, Settings: settings, Pool: pool,
			Workers: 4, NoLayerScan: true, Credentials: map[string]receiver.Credentials{"*": {Tokens: []string{"t"}}},
			Alerts: &serve.Alerts{Rules: rules}, Log: slog.New(slog.DiscardHandler)})
	}()
	defer func() { cancel(); <-served }()

	arrived := make(chan string, 16)
	sub, err := nc.Subscribe("layerq.alerts.>", func(m *nats.Msg) {
		var a struct {
			Data struct{ To string } `json:"data"`
		}
		json.Unmarshal(m.Data, &a)
		arrived <- m.Subject + " " + a.Data.To
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()

	build := func(s sample.Spec) v1.Image {
		img, err := sample.Build(s)
		if err != nil {
			b.Fatal(err)
		}
		return img
	}
	push := func(ref string, img v1.Image) {
		if err := remote.Write(reg.Ref(b, ref), img); err != nil {
			b.Fatal(err)
		}
	}
	wait := func(want string) {
		deadline := time.After(30 * time.Second)
		for {
			select {
			case got := <-arrived:
				if got == want {
					return
				}
			case <-deadline:
				b.Fatalf("no alert %s within 30 s", want)
			}
		}
	}
	var lat []float64
	for i := range alertRounds + 1 {
		base := build(sample.Spec{Steps: []sample.Step{{CreatedBy: "ADD rootfs.tar /", Files: []sample.File{
			{Path: "etc/os-release", Content: []byte(fmt.Sprintf("ID=bench\nBUILD=%d\n", i))}}}}})
		app := build(sample.Spec{Base: base, Steps: []sample.Step{{CreatedBy: "COPY app /app", Files: []sample.File{
			{Path: "app", Content: sample.Bytes("app", 10_000*(i+1))}}}}})
		for _, p := range []struct {
			ref, subject string
			img          v1.Image
		}{{"lib/deb:12", "layerq.alerts.base_moved", base}, {"team/api:1", "layerq.alerts.image_grew", app}} {
			d, _ := p.img.Digest()
			t0 := time.Now()
			push(p.ref, p.img)
			if i == 0 {
				continue // the first builds: nothing moved or grew
			}
			wait(p.subject + " " + d.String())
			lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
		}
		if i == 0 {
			// The first builds folded before the rounds start.
			deadline := time.Now().Add(30 * time.Second)
			for {
				var n int
				pool.QueryRow(context.Background(), `SELECT count(*) FROM base_repositories WHERE images > 0`).Scan(&n)
				if n > 0 {
					break
				}
				if time.Now().After(deadline) {
					b.Fatal("the first builds were not folded within 30 s")
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	return lat
}
