package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/bench/synth"
	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

// BenchmarkProcess times every report as a user runs it: the layerq
// binary started as a process against a synthetic graph (bench/synth,
// 100k images by default; LAYERQ_SYNTH_IMAGES sets another size, and
// LAYERQ_BENCH_DATABASE_URL points at a graph that exists already), from
// exec to exit, output to a pipe. Each case reports its median wall time as
// p50-ms; a run that takes longer than LAYERQ_BENCH_TIMEOUT (default 60s)
// is killed, and the case reports timed-out instead. "help" is a process
// that opens no database; "storage-by-namespace" reads one small kept
// aggregate (well under a millisecond in-process, BenchmarkReports), so its
// wall time is the fixed cost of a report: start, connect, schema check,
// fold check. LAYERQ_BENCH_PEER names another layerq binary (an older
// build, say) to run alternately with this one on the same graph: each
// case then reports its median as peer-p50-ms too, or peer-timed-out-s
// when a run of the peer took longer than the timeout (it is not run
// again in that case). LAYERQ_BENCH_POOLER=pgbouncer also runs this
// binary through PgBouncer in session mode in front of the graph's server
// (a backend already running for each run, as a deployment with a pooler
// has it), alternating, and reports that median as pgbouncer-p50-ms.
// Every run starts after the pause settle says.
func BenchmarkProcess(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "layerq")
	if err := buildLayerq(bin); err != nil {
		b.Fatal(err)
	}
	url := synth.BenchGraph(b)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	// One repository with images, its namespace, and one of its tags.
	var repo, tag string
	if err := pool.QueryRow(ctx, `SELECT r.name, t.name FROM tags t JOIN repositories r ON r.id = t.repository_id
		WHERE t.deleted_at IS NULL AND r.name LIKE '%/%' AND r.name <> $1 ORDER BY r.id DESC, t.name LIMIT 1`, synth.BigPairRepository).Scan(&repo, &tag); err != nil {
		b.Fatalf("picking a repository: %v", err)
	}
	namespace, _, _ := strings.Cut(repo, "/")
	ref := repo + ":" + tag
	// For diff: the image before it in its repository (by config created
	// time); for find: its top layer, and a regular file of that layer's
	// index when the graph has file indexes (else a name nothing holds).
	var digest, prev, topLayer string
	if err := pool.QueryRow(ctx, `SELECT t.manifest_digest, coalesce((SELECT m2.digest FROM repository_manifests rm2 JOIN manifests m2 ON m2.digest = rm2.manifest_digest
			WHERE rm2.repository_id = r.id AND rm2.deleted_at IS NULL AND m2.kind = 'image' AND m2.digest <> t.manifest_digest ORDER BY m2.created DESC NULLS LAST, m2.digest LIMIT 1), t.manifest_digest),
			(SELECT ml.blob_digest FROM manifest_layers ml WHERE ml.manifest_digest = t.manifest_digest ORDER BY ml.position DESC LIMIT 1)
		FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE r.name = $1 AND t.name = $2 AND t.deleted_at IS NULL`, repo, tag).Scan(&digest, &prev, &topLayer); err != nil {
		b.Fatalf("picking images to compare: %v", err)
	}
	file := "no-such-file.bin"
	pool.QueryRow(ctx, `SELECT path FROM layer_files WHERE blob_digest = $1 AND type = 1 ORDER BY size DESC, path LIMIT 1`, topLayer).Scan(&file)
	name := file[strings.LastIndexByte(file, '/')+1:]
	// And the file of the image whose name the fewest layers hold
	// (counted up to 200 each, so that the popular names of a large graph
	// cost little to rule out): a search for one package's file, beside
	// one for a popular name.
	rare := "no-such-file.bin"
	pool.QueryRow(ctx, `WITH names AS (
			SELECT DISTINCT reverse(split_part(reverse(f.path), '/', 1)) AS name
			FROM manifest_layers ml JOIN layer_files f ON f.blob_digest = ml.blob_digest AND f.type = 1
			WHERE ml.manifest_digest = $1)
		SELECT name FROM names
		ORDER BY (SELECT count(*) FROM (SELECT FROM file_paths fp JOIN path_layers pl ON pl.path_id = fp.id
			WHERE reverse(split_part(reverse(fp.path), '/', 1)) = names.name LIMIT 200) c), name
		LIMIT 1`, digest).Scan(&rare)
	rareName := rare[strings.LastIndexByte(rare, '/')+1:]
	timeout := 60 * time.Second
	if s := os.Getenv("LAYERQ_BENCH_TIMEOUT"); s != "" {
		if timeout, err = time.ParseDuration(s); err != nil {
			b.Fatal(err)
		}
	}

	cases := []struct {
		name string
		args []string
	}{
		{"help", []string{"--help"}},
		{"storage-by-namespace", []string{"storage", "--by", "namespace"}},
		{"storage", []string{"storage"}},
		{"top-shared", []string{"top-shared"}},
		{"top-shared-namespace", []string{"top-shared", "--repo", namespace + "/**"}},
		{"top-shared-repository", []string{"top-shared", "--repo", repo}},
		{"image", []string{"image", ref}},
		{"bases", []string{"bases"}},
		{"bases-namespace", []string{"bases", "--repo", namespace + "/**"}},
		{"cache", []string{"cache"}},
		{"cache-since-30d", []string{"cache", "--since", "30d"}},
		{"cache-limit-20", []string{"cache", "--limit", "20"}},
		{"cache-repository", []string{"cache", "--repo", repo}},
		{"duplicates-blob", []string{"duplicates", "--kind", "blob"}},
		{"duplicates-layer", []string{"duplicates", "--kind", "layer"}},
		{"duplicates-file", []string{"duplicates", "--kind", "file"}},
		{"duplicates-blob-namespace", []string{"duplicates", "--kind", "blob", "--repo", namespace + "/**"}},
		{"duplicates-blob-repository", []string{"duplicates", "--kind", "blob", "--repo", repo}},
		{"duplicates-layer-namespace", []string{"duplicates", "--kind", "layer", "--repo", namespace + "/**"}},
		{"duplicates-layer-repository", []string{"duplicates", "--kind", "layer", "--repo", repo}},
		{"duplicates-file-namespace", []string{"duplicates", "--kind", "file", "--repo", namespace + "/**"}},
		{"duplicates-file-repository", []string{"duplicates", "--kind", "file", "--repo", repo}},
		{"bloat-image", []string{"bloat", "--image", ref}},
		{"bloat-repository", []string{"bloat", "--repo", repo}},
		{"bloat-namespace", []string{"bloat", "--repo", namespace + "/**"}},
		{"bloat", []string{"bloat"}},
		{"growth", []string{"growth"}},
		{"growth-namespace", []string{"growth", "--repo", namespace + "/**"}},
		{"growth-repository", []string{"growth", "--repo", repo}},
		{"growth-since-30d", []string{"growth", "--since", "30d"}},
		{"diff", []string{"diff", repo + "@" + prev, repo + "@" + digest}},
		{"find-layer", []string{"find", "--layer", topLayer}},
		{"find-path-name", []string{"find", "--path", name}},
		{"find-path-glob", []string{"find", "--path", "**/" + file}},
		{"find-path-rare-name", []string{"find", "--path", rareName}},
		{"find-path-end", []string{"find", "--path", "*.pem"}}, // an audit's: names by their end, none held here
	}
	var big bool
	pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM repositories WHERE name = $1)`, synth.BigPairRepository).Scan(&big)
	if big { // two images of about 1 GB of files each
		cases = append(cases, struct {
			name string
			args []string
		}{"diff-1gb", []string{"diff", synth.BigPairA, synth.BigPairB}})
	}
	if file != "no-such-file.bin" {
		cases = append(cases, struct {
			name string
			args []string
		}{"find-same-as", []string{"find", "--same-as", ref + ":/" + file}})
	}
	b.Logf("graph: %s; repository %s, namespace %s, image %s, compared with %s, files %s and %s", graphSummary(ctx, pool), repo, namespace, ref, prev, file, rare)
	pooledURL := ""
	if os.Getenv("LAYERQ_BENCH_POOLER") == "pgbouncer" {
		pooledURL = pgtest.Bouncer(b, url)
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			args := append([]string{"--database-url", url}, c.args...)
			var pooled []string
			if pooledURL != "" {
				pooled = append([]string{"--database-url", pooledURL}, c.args...)
			}
			if _, err := runProcess(bin, args, timeout); err != nil { // warm, and fail early
				if errors.Is(err, context.DeadlineExceeded) {
					b.ReportMetric(timeout.Seconds(), "timed-out-s")
					b.Logf("layerq %s: did not finish within %s", strings.Join(c.args, " "), timeout)
					return
				}
				b.Fatal(err)
			}
			peer := os.Getenv("LAYERQ_BENCH_PEER")
			times := make([]time.Duration, 0, b.N)
			var peerTimes, pooledTimes []time.Duration
			peerTimedOut := false
			b.ResetTimer()
			for range b.N {
				took, err := runProcess(bin, args, timeout)
				if err != nil {
					b.Fatal(err)
				}
				times = append(times, took)
				if pooled != nil {
					took, err := runProcess(bin, pooled, timeout)
					if err != nil {
						b.Fatal(err)
					}
					pooledTimes = append(pooledTimes, took)
				}
				if peer != "" && !peerTimedOut {
					took, err := runProcess(peer, args, timeout)
					switch {
					case errors.Is(err, context.DeadlineExceeded):
						peerTimedOut = true // once is enough to say so
					case err != nil:
						b.Fatal(err)
					default:
						peerTimes = append(peerTimes, took)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(median(times), "p50-ms")
			if pooled != nil {
				b.ReportMetric(median(pooledTimes), "pgbouncer-p50-ms")
			}
			switch {
			case peerTimedOut:
				b.ReportMetric(timeout.Seconds(), "peer-timed-out-s")
			case peer != "":
				b.ReportMetric(median(peerTimes), "peer-p50-ms")
			}
		})
	}
}

// median is the middle of ts, in milliseconds.
func median(ts []time.Duration) float64 {
	slices.Sort(ts)
	return float64(ts[len(ts)/2].Microseconds()) / 1000
}

// settle is the pause before each timed process (LAYERQ_BENCH_SETTLE, a
// Go duration; 200ms by default): a user runs a report on a machine where
// the last report's backend has exited. Without it, a run right after one
// that connected directly shares the 2 cores with that backend's exit
// (through PgBouncer: 31 ms against 25 ms for the same binary right after
// it, in one run).
var settle = func() time.Duration {
	s := os.Getenv("LAYERQ_BENCH_SETTLE")
	if s == "" {
		return 200 * time.Millisecond
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		panic(fmt.Sprintf("LAYERQ_BENCH_SETTLE=%q: want a Go duration such as 200ms", s))
	}
	return d
}()

// runProcess waits settle, then runs bin with args to exit, its output to
// a pipe, and returns the wall time.
func runProcess(bin string, args []string, timeout time.Duration) (time.Duration, error) {
	time.Sleep(settle)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	// Timed out, it is interrupted as a user's Ctrl-C would, so it cancels
	// its query rather than leave Postgres running it for the next runs.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if ctx.Err() != nil {
		return took, ctx.Err()
	}
	if err != nil {
		return took, errors.New(strings.Join(args[2:], " ") + ": " + err.Error() + "\n" + out.String())
	}
	return took, nil
}

func graphSummary(ctx context.Context, pool *pgxpool.Pool) string {
	var repos, images, edges, blobs, files int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM repositories), (SELECT count(*) FROM manifests WHERE kind = 'image'),
		(SELECT count(*) FROM manifest_layers), (SELECT count(*) FROM blobs), (SELECT count(*) FROM layer_files)`).Scan(&repos, &images, &edges, &blobs, &files); err != nil {
		return err.Error()
	}
	return strconv.FormatInt(repos, 10) + " repositories, " + strconv.FormatInt(images, 10) + " images, " +
		strconv.FormatInt(edges, 10) + " manifest-layer edges, " + strconv.FormatInt(blobs, 10) + " blobs, " + strconv.FormatInt(files, 10) + " indexed files"
}

// BenchmarkFixedCost times what every report pays before its query, as
// a user waits for it: `layerq storage --by namespace` (one small kept row)
// on the local default cluster under a fresh data directory (no URL given,
// the README's quick start), the same with --database-url naming that
// cluster, the same through PgBouncer in session mode in front of it (a
// backend already running), and `layerq --help` (a process that opens no
// database), alternating in one run; beside them, one connection to that
// server made in-process (pgx, unix socket): what the server takes to fork
// and set up a backend, which only a pooler avoids. Each is reported as its
// median: local-p50-ms, url-p50-ms, pgbouncer-p50-ms, help-p50-ms and
// connect-p50-ms. With LAYERQ_BENCH_PEER (another layerq binary, an older
// build say), the peer runs each case too, alternating with this one, and
// each is reported again as peer-local-p50-ms, peer-url-p50-ms and so on.
func BenchmarkFixedCost(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "layerq")
	if err := buildLayerq(bin); err != nil {
		b.Fatal(err)
	}
	// A data dir as a machine has one (run as root, the server user must
	// pass through its parent; b.TempDir is 0700).
	parent, err := os.MkdirTemp("", "layerq-fixed-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(parent)
	if err := os.Chmod(parent, 0o755); err != nil {
		b.Fatal(err)
	}
	dataDir := filepath.Join(parent, "data")
	ctx := context.Background()
	defer database.StopLocal(ctx, dataDir)
	url, err := database.Local(ctx, dataDir, nil)
	if err != nil {
		b.Fatal(err)
	}
	local := []string{"--data-dir", dataDir, "storage", "--by", "namespace"}
	byURL := []string{"--database-url", url, "storage", "--by", "namespace"}
	help := []string{"--data-dir", dataDir, "--help"}
	pooled := []string{"--database-url", pgtest.Bouncer(b, url), "storage", "--by", "namespace"}
	const timeout = time.Minute
	for _, args := range [][]string{local, byURL, pooled} { // migrate, warm, fail early
		if _, err := runProcess(bin, args, timeout); err != nil {
			b.Fatal(err)
		}
	}
	peer := os.Getenv("LAYERQ_BENCH_PEER")
	if peer != "" {
		for _, args := range [][]string{local, byURL, pooled} {
			if _, err := runProcess(peer, args, timeout); err != nil {
				b.Fatal(err)
			}
		}
	}
	var localT, urlT, pooledT, helpT, connT []time.Duration
	var peerLocalT, peerURLT, peerPooledT, peerHelpT []time.Duration
	b.ResetTimer()
	for range b.N {
		for _, run := range []struct {
			args            []string
			times, peerTime *[]time.Duration
		}{{local, &localT, &peerLocalT}, {byURL, &urlT, &peerURLT}, {pooled, &pooledT, &peerPooledT}, {help, &helpT, &peerHelpT}} {
			took, err := runProcess(bin, run.args, timeout)
			if err != nil {
				b.Fatal(err)
			}
			*run.times = append(*run.times, took)
			if peer != "" {
				took, err := runProcess(peer, run.args, timeout)
				if err != nil {
					b.Fatal(err)
				}
				*run.peerTime = append(*run.peerTime, took)
			}
		}
		start := time.Now()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			b.Fatal(err)
		}
		connT = append(connT, time.Since(start))
		conn.Close(ctx)
	}
	b.StopTimer()
	b.ReportMetric(median(localT), "local-p50-ms")
	b.ReportMetric(median(urlT), "url-p50-ms")
	b.ReportMetric(median(pooledT), "pgbouncer-p50-ms")
	b.ReportMetric(median(helpT), "help-p50-ms")
	b.ReportMetric(median(connT), "connect-p50-ms")
	if peer != "" {
		b.ReportMetric(median(peerLocalT), "peer-local-p50-ms")
		b.ReportMetric(median(peerURLT), "peer-url-p50-ms")
		b.ReportMetric(median(peerPooledT), "peer-pgbouncer-p50-ms")
		b.ReportMetric(median(peerHelpT), "peer-help-p50-ms")
	}
}

// buildLayerq builds this binary as `go tool task build` does: without
// cgo (see the Taskfile).
func buildLayerq(bin string) error {
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}
