package serve_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	"github.com/layerq/layerq/internal/receiver"
	"github.com/layerq/layerq/internal/registries"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/serve"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/telemetry"
	"github.com/layerq/layerq/internal/testenv/otlptest"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
)

const benchEvents = 400

// BenchmarkWebhookToGraph measures the live path: distribution-shaped push
// notifications POSTed to the receiver, through the embedded JetStream, to
// workers that walk each manifest from an in-process registry and commit it.
// Latency is from the POST to the tag being visible in Postgres (polled
// every 2 ms); events/s is over the whole burst. telemetry=on runs it with
// the OpenTelemetry SDK as serve sets it up, exporting every span and metric
// over OTLP/HTTP to an in-process collector (and /metrics registered);
// telemetry=off with none, for the ratio.
func BenchmarkWebhookToGraph(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(map[bool]string{false: "telemetry=off", true: "telemetry=on"}[on], func(b *testing.B) { benchWebhookToGraph(b, on) })
	}
}

func benchWebhookToGraph(b *testing.B, withTelemetry bool) {
	reg := registrytest.New(b)
	type pushed struct{ repo, digest string }
	var imgs []pushed
	for i := range benchEvents {
		img, err := sample.Build(sample.Spec{Steps: []sample.Step{
			{CreatedBy: "ADD rootfs /", Files: []sample.File{{Path: "etc/os-release", Content: []byte("ID=bench\n")}}},
			{CreatedBy: fmt.Sprintf("RUN build %d", i), Files: []sample.File{{Path: "app", Content: []byte(fmt.Sprint(i))}}},
		}})
		if err != nil {
			b.Fatal(err)
		}
		repo := fmt.Sprintf("team-%d/app-%d", i%10, i)
		imgs = append(imgs, pushed{repo, reg.PushImage(b, repo+":1", img)})
	}
	var p50s, p99s, rates []float64
	for range b.N {
		b.StopTimer()
		url := pgtest.NewDatabase(b)
		pool, err := pgxpool.New(context.Background(), url)
		if err != nil {
			b.Fatal(err)
		}
		nc, stopNATS, err := serve.EmbeddedNATS(b.TempDir(), []nats.Option{})
		if err != nil {
			b.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		regs, _ := registries.New([]registries.Registry{{Host: reg.Host}})
		settings := stream.Settings{}
		settings.Defaults()
		ctx, cancel := context.WithCancel(context.Background())
		srv := serve.Config{Role: serve.RoleAll, Listener: ln, Registries: regs, NATS: nc, Settings: settings, Pool: pool, Workers: 8,
			Credentials: map[string]receiver.Credentials{"*": {Tokens: []string{"t"}}}, Log: slog.New(slog.DiscardHandler)}
		var tel *telemetry.Telemetry
		if withTelemetry {
			col := otlptest.New(b)
			b.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", col.HTTP)
			b.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
			if tel, err = telemetry.Start(ctx, telemetry.Options{Service: "layerq-ingest"}); err != nil {
				b.Fatal(err)
			}
			srv.Telemetry, srv.Metrics = tel.Providers, tel.MetricsHandler()
		}
		served := make(chan error, 1)
		go func() { served <- serve.Run(ctx, srv) }()
		hook := "http://" + ln.Addr().String() + "/webhooks/distribution"
		seen := map[string]time.Time{}
		var mu sync.Mutex
		stopPoll := make(chan struct{})
		polled := make(chan struct{})
		go func() {
			defer close(polled)
			for {
				select {
				case <-stopPoll:
					return
				case <-time.After(2 * time.Millisecond):
				}
				rows, err := pool.Query(context.Background(), `SELECT r.name FROM tags t JOIN repositories r ON r.id = t.repository_id`)
				if err != nil {
					continue
				}
				now := time.Now()
				mu.Lock()
				for rows.Next() {
					var name string
					rows.Scan(&name)
					if _, ok := seen[name]; !ok {
						seen[name] = now
					}
				}
				mu.Unlock()
				rows.Close()
			}
		}()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
		sent := make(map[string]time.Time, len(imgs))
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		var sentMu sync.Mutex
		sem := make(chan struct{}, 8) // eight registry notifiers at once
		for i, p := range imgs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				body := fmt.Sprintf(`{"events":[{"id":"bench-%d","timestamp":%q,"action":"push","target":{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":%q,"size":1,"repository":%q,"url":"http://%s/v2/%s/manifests/%s","tag":"1"},"request":{"id":"r","host":%q,"method":"PUT"},"actor":{},"source":{"addr":"x"}}]}`,
					i, time.Now().UTC().Format(time.RFC3339Nano), p.digest, p.repo, reg.Host, p.repo, p.digest, reg.Host)
				req, _ := http.NewRequest(http.MethodPost, hook, bytes.NewBufferString(body))
				req.Header.Set("Authorization", "Bearer t")
				req.Header.Set("Content-Type", "application/vnd.docker.distribution.events.v2+json")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("webhook answered %d", resp.StatusCode)
				}
				sentMu.Lock()
				sent[p.repo] = t0
				sentMu.Unlock()
			}()
		}
		wg.Wait()
		for {
			mu.Lock()
			n := len(seen)
			mu.Unlock()
			if n == len(imgs) {
				break
			}
			if time.Since(start) > 2*time.Minute {
				b.Fatalf("only %d of %d events reached the graph", n, len(imgs))
			}
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		close(stopPoll)
		<-polled
		var lat []float64
		last := start
		for repo, t0 := range sent {
			lat = append(lat, float64(seen[repo].Sub(t0).Microseconds())/1000)
			if seen[repo].After(last) {
				last = seen[repo]
			}
		}
		slices.Sort(lat)
		p50s = append(p50s, lat[len(lat)/2])
		p99s = append(p99s, lat[len(lat)*99/100])
		rates = append(rates, float64(len(imgs))/last.Sub(start).Seconds())
		cancel()
		<-served
		if tel != nil {
			tel.Shutdown(context.Background())
		}
		stopNATS()
		pool.Close()
		b.StartTimer()
	}
	b.ReportMetric(median(p50s), "p50_ms")
	b.ReportMetric(median(p99s), "p99_ms")
	b.ReportMetric(median(rates), "events/s")
	b.ReportMetric(0, "ns/op")
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}
