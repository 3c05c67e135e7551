// Command benchsuite runs layerq's benchmarks in one go (`go tool task
// bench`) and writes what they measured into docs/benchmarks.md, between the
// markers of its "Suite" section, with the machine and the date, and plots
// into docs/img/: throughput against worker processes, and report latency
// against graph size. Every figure is set beside its limit or peer measured
// in the same run (raw GETs, gzip -dc, one worker).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// bench is one `go test -bench` run, or one run of a script that prints
// `BenchmarkName  1  value unit value unit...` lines as go test does.
type bench struct {
	name    string // for the log
	pkg     string
	pattern string
	times   string // -benchtime
	env     []string
	script  []string // a command to run instead of go test
}

// results maps benchmark name (without the -N suffix) to unit to value.
type results map[string]map[string]float64

var line = regexp.MustCompile(`^(Benchmark\S+)\s+\d+\s+(.*)$`)

// procsSuffix is what go test appends to benchmark names when GOMAXPROCS is
// above 1 (the children run with the default, the machine's cores).
var procsSuffix = func() string {
	if n := runtime.GOMAXPROCS(0); n > 1 {
		return "-" + strconv.Itoa(n)
	}
	return ""
}()

// run runs b and parses its metrics.
func run(b bench, into results) error {
	var cmd *exec.Cmd
	if b.script != nil {
		fmt.Fprintf(os.Stderr, "benchsuite: %s: %s\n", b.name, strings.Join(b.script, " "))
		cmd = exec.Command(b.script[0], b.script[1:]...)
	} else {
		fmt.Fprintf(os.Stderr, "benchsuite: %s: go test -bench %s %s\n", b.name, b.pattern, b.pkg)
		cmd = exec.Command("go", "test", "-run", "^$", "-bench", b.pattern, "-benchtime", b.times, "-timeout", "90m", b.pkg)
	}
	cmd.Env = append(os.Environ(), b.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	err := cmd.Run()
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		name := m[1]
		if procsSuffix != "" {
			name = strings.TrimSuffix(name, procsSuffix)
		}
		if into[name] == nil {
			into[name] = map[string]float64{}
		}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				into[name][f[i+1]] = v
			}
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", b.name, err, out.String())
	}
	return nil
}

func main() {
	quick := flag.Bool("quick", false, "smaller runs (10k images for the large report graph and the graph with file indexes, 100 events per worker run, 3 runs of the dive comparison)")
	million := flag.String("million", "", "also time every report as a process on the graph at `URL` (a database synthgraph wrote with --images 1000000: 53 min on 2 cores, so not made here), for the growth curve's third point")
	docs := flag.String("docs", "docs", "the docs directory to write benchmarks.md and img/ into")
	only := flag.String("only", "", "run only the benchmarks whose name contains `TEXT` (or one of several, comma-separated; TEXT$ for the name exactly), and take the others from the last run's results (docs/img/bench-results.json); -only none re-renders")
	flag.Parse()
	big := "100000"
	events := "300"
	diveRuns := "5"
	if *quick {
		big, events, diveRuns = "10000", "100", "3"
	}
	all := []bench{
		{"scan vs raw GETs (go-containerregistry's registry)", "./internal/scan/", "^BenchmarkScanVsRaw$", "3x", nil, nil},
		{"scan vs raw GETs (distribution)", "./internal/scan/", "^BenchmarkScanVsRaw$", "3x", []string{"LAYERQ_BENCH_REGISTRY=distribution"}, nil},
		{"synthetic registry scan", "./internal/scan/", "^BenchmarkScanSynthetic$", "3x", nil, nil},
		{"webhook to graph", "./internal/serve/", "^BenchmarkWebhookToGraph$", "3x", nil, nil},
		{"push to alert", "./internal/serve/", "^BenchmarkPushToAlert$", "3x", nil, nil},
		{"layer scan vs gzip -dc", "./internal/layerscan/", "^BenchmarkScanGzip$|^BenchmarkScanPeakRSS$", "3x", nil, nil},
		{"layer index writes", "./internal/layerindex/", "^BenchmarkRun$", "5x", nil, nil},
		{"reports at 10k images", "./internal/report/", "^BenchmarkReports$", "11x", []string{"LAYERQ_SYNTH_IMAGES=10000"}, nil},
		{"reports at " + big + " images", "./internal/report/", "^BenchmarkReports$", "11x", []string{"LAYERQ_SYNTH_IMAGES=" + big}, nil},
		{"worker processes", "./chaos/", "^BenchmarkWorkers$", "1x", []string{"LAYERQ_BENCH_EVENTS=" + events}, nil},
		{"failover", "./chaos/", "^BenchmarkFailover$", "1x", nil, nil},
		{"first fold", "./internal/graph/", "^BenchmarkFold$", "1x", []string{"LAYERQ_SYNTH_IMAGES=20000"}, nil},
		{"fixed cost of a report", "./cmd/query/", "^BenchmarkFixedCost$", "11x", nil, nil},
		{"processes at 10k images", "./cmd/query/", "^BenchmarkProcess$", "5x", []string{"LAYERQ_SYNTH_IMAGES=10000"}, nil},
		{"processes at " + big + " images with file indexes", "./cmd/query/", "^BenchmarkProcess$", "5x", []string{"LAYERQ_SYNTH_IMAGES=" + big, "LAYERQ_SYNTH_FILES=1"}, nil},
		{"dashboard panels at " + big + " images", "./dashboards/", "^BenchmarkPanels$", "5x", []string{"LAYERQ_SYNTH_IMAGES=" + big}, nil},
		{"registry to bloat report vs skopeo + dive", "", "", "", []string{"RUNS=" + diveRuns}, []string{"bash", "bench/bloat_vs_dive.sh"}},
	}
	if big != "10000" {
		all = append(all, bench{"processes at " + big + " images", "./cmd/query/", "^BenchmarkProcess$", "5x", []string{"LAYERQ_SYNTH_IMAGES=" + big}, nil})
	}
	if *million != "" {
		all = append(all, bench{"processes at 1000000 images", "./cmd/query/", "^BenchmarkProcess$", "5x", []string{"LAYERQ_BENCH_DATABASE_URL=" + *million}, nil})
	}
	got := map[string]results{}
	saved := filepath.Join(*docs, "img", "bench-results.json")
	// Where each benchmark's results come from: the machine line of the run
	// that measured them (a -only run keeps the others').
	from := map[string]string{}
	savedFrom := filepath.Join(*docs, "img", "bench-provenance.json")
	m := machine()
	if *only != "" {
		b, err := os.ReadFile(saved)
		if err == nil {
			err = json.Unmarshal(b, &got)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchsuite: -only needs the results of a whole run: %v\n", err)
			os.Exit(1)
		}
		if b, err := os.ReadFile(savedFrom); err == nil {
			json.Unmarshal(b, &from)
		}
	}
	started := time.Now()
	for _, b := range all {
		if *only != "" && !slices.ContainsFunc(strings.Split(*only, ","), func(t string) bool {
			if exact, ok := strings.CutSuffix(t, "$"); ok {
				return b.name == exact
			}
			return strings.Contains(b.name, t)
		}) {
			continue
		}
		r := results{}
		if err := run(b, r); err != nil {
			fmt.Fprintf(os.Stderr, "benchsuite: %v\n", err)
			os.Exit(1)
		}
		if len(r) == 0 { // the saved results of an earlier run stay
			fmt.Fprintf(os.Stderr, "benchsuite: %s reported nothing: see its output above\n", b.name)
			os.Exit(1)
		}
		got[b.name] = r
		from[b.name] = m
	}
	if err := os.MkdirAll(filepath.Dir(saved), 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "benchsuite: %v\n", err)
		os.Exit(1)
	}
	if b, err := json.MarshalIndent(got, "", "  "); err == nil {
		os.WriteFile(saved, b, 0o644)
	}
	if b, err := json.MarshalIndent(from, "", "  "); err == nil {
		os.WriteFile(savedFrom, b, 0o644)
	}
	section, err := render(m, all, got, from, big, *docs)
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchsuite: %v\n", err)
		os.Exit(1)
	}
	if err := splice(filepath.Join(*docs, "benchmarks.md"), section); err != nil {
		fmt.Fprintf(os.Stderr, "benchsuite: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "benchsuite: done in %s; wrote %s\n", time.Since(started).Round(time.Second), filepath.Join(*docs, "benchmarks.md"))
}

// machine describes where the figures come from.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		fmt.Sscanf(strings.TrimPrefix(strings.Split(string(b), "\n")[0], "MemTotal:"), "%f", &kb)
		mem = fmt.Sprintf(", %.1f GiB", kb/1024/1024)
	}
	pg := "PostgreSQL (version unknown)"
	if out, err := exec.Command("sh", "-c", "ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | tail -1").Output(); err == nil && len(bytes.TrimSpace(out)) > 0 {
		if v, err := exec.Command(strings.TrimSpace(string(out)), "--version").Output(); err == nil {
			pg = strings.TrimSpace(strings.TrimPrefix(string(v), "postgres (PostgreSQL) "))
			pg = "PostgreSQL " + pg
		}
	}
	return fmt.Sprintf("%d cores (%s)%s, %s, %s, %s, commit %s", runtime.NumCPU(), cpu, mem, runtime.Version(), pg, time.Now().UTC().Format("2006-01-02"), commit())
}

// commit is the commit the suite measures, marked when Go files differ
// from it.
func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if diff, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no", "--", "*.go", "*.sql").Output(); err == nil && len(bytes.TrimSpace(diff)) > 0 {
		c += " with uncommitted changes"
	}
	return c
}

func f0(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
func f2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// render writes the plots and returns the section's Markdown.
func render(m string, all []bench, got map[string]results, from map[string]string, big, docs string) (string, error) {
	var s strings.Builder
	var older []string
	measured := 0
	// Every benchmark with results, those of this run's list first (a
	// saved one it does not list, say at 1M images without -million,
	// still renders, so it is named too).
	benches := make([]string, 0, len(got))
	for _, b := range all {
		benches = append(benches, b.name)
	}
	for _, n := range slices.Sorted(maps.Keys(got)) {
		if !slices.Contains(benches, n) {
			benches = append(benches, n)
		}
	}
	for _, name := range benches {
		if len(got[name]) == 0 {
			continue
		}
		measured++
		if f := from[name]; f != m {
			if f == "" {
				f = "an earlier run"
			}
			older = append(older, fmt.Sprintf("- %s: %s\n", name, f))
		}
	}
	if len(older) == measured {
		s.WriteString("Written by `go tool task bench` (bench/cmd/benchsuite) from saved results; each row's peer or limit was measured in the same run as the row. Each benchmark was measured on:\n\n")
	} else {
		fmt.Fprintf(&s, "Machine: %s. Written by `go tool task bench` (bench/cmd/benchsuite); each row's peer or limit is measured in the same run.\n\n", m)
		if len(older) > 0 {
			s.WriteString("Not measured in this run (`-only`), kept from the run that measured them:\n\n")
		}
	}
	if len(older) > 0 {
		s.WriteString(strings.Join(older, "") + "\n")
	}
	s.WriteString("| what | figure | limit or peer (same run) | ratio |\n|---|---|---|---|\n")
	row := func(what, fig, peer, ratio string) {
		fmt.Fprintf(&s, "| %s | %s | %s | %s |\n", what, fig, peer, ratio)
	}
	// Where the registry runs: distribution in its own process, as in
	// production; go-containerregistry's in the benchmark's.
	where := func(reg string) string {
		if reg == "distribution" {
			return " (in its own process)"
		}
		return " (in the benchmark's process)"
	}
	for _, reg := range []string{"go-containerregistry's registry", "distribution"} {
		r := got["scan vs raw GETs ("+reg+")"]["BenchmarkScanVsRaw"]
		row("scan, "+reg+where(reg), f0(r["images/s"])+" images/s", f0(r["raw_images/s"])+" images/s of bare manifest + config GETs", f2(r["ratio_to_raw"])+"×")
	}
	for _, reg := range []string{"go-containerregistry", "distribution"} {
		if r := got["synthetic registry scan"]["BenchmarkScanSynthetic/registry="+reg]; r != nil {
			row("scan of the synthetic registry ("+f0(r["images"])+" images, Zipf bases, indexes, SBOMs), "+reg+where(reg), f0(r["tags/s"])+" tags/s",
				f0(r["raw_tags/s"])+" tags/s of bare GETs of what the scan reads ("+f0(r["GETs/pass"])+" GETs)", f2(r["ratio_to_raw"])+"×")
		}
	}
	w := got["webhook to graph"]
	on, off := w["BenchmarkWebhookToGraph/telemetry=on"], w["BenchmarkWebhookToGraph/telemetry=off"]
	row("webhook → graph, telemetry on", f0(on["events/s"])+" events/s, p50 "+f0(on["p50_ms"])+" ms, p99 "+f0(on["p99_ms"])+" ms",
		"telemetry off: "+f0(off["events/s"])+" events/s, p50 "+f0(off["p50_ms"])+" ms", f2(on["events/s"]/off["events/s"])+"×")
	if a := got["push to alert"]["BenchmarkPushToAlert"]; a != nil {
		row("push → alert on NATS (distribution registry notifying serve; base moved, image grew)", "p50 "+f0(a["p50_ms"])+" ms, p99 "+f0(a["p99_ms"])+" ms",
			"limit: 1,000 ms", f2(a["p99_ms"]/1000)+"× of the limit at p99")
	}
	l := got["layer scan vs gzip -dc"]
	if sc, gz := l["BenchmarkScanGzip/scan"], l["BenchmarkScanGzip/gzip-dc"]; sc != nil && gz != nil {
		row("layer scan, gzip layer, one stream", f0(sc["MB/s"])+" MB/s", "`gzip -dc`: "+f0(gz["MB/s"])+" MB/s", f2(sc["MB/s"]/gz["MB/s"])+"×")
	}
	// Parallel runs are named by the cores: scan-xN and gzip-dc-xN.
	for name, sc := range l {
		if x, ok := strings.CutPrefix(name, "BenchmarkScanGzip/scan-x"); ok {
			if gz := l["BenchmarkScanGzip/gzip-dc-x"+x]; gz != nil {
				row("layer scan, gzip layers, "+x+" at once", f0(sc["MB/s"])+" MB/s", x+" `gzip -dc` at once: "+f0(gz["MB/s"])+" MB/s", f2(sc["MB/s"]/gz["MB/s"])+"×")
			}
		}
	}
	for _, c := range []string{"gzip", "zstd", "zstd-window32M"} {
		if rss := l["BenchmarkScanPeakRSS/"+c]; rss != nil {
			row("layer scan peak RSS, "+c+" ("+f0(rss["entries"])+" entries)", f1(rss["peak-RSS-MiB"])+" MiB", "at start "+f1(rss["start-RSS-MiB"])+" MiB", "")
		}
	}
	wk := workersOn(got, 1)
	row("1 worker process", f1(wk["events/s-1w"])+" events/s", "", "1×")
	row("2 worker processes", f1(wk["events/s-2w"])+" events/s", "1 worker", f2(wk["scale-2w"])+"× (goal ≥ 1.8×)")
	row("4 worker processes", f1(wk["events/s-4w"])+" events/s", "1 worker", f2(wk["scale-4w"])+"×")
	row("worker peak RSS", f1(wk["worker-peak-RSS-MiB"])+" MiB", "", "")
	if f := got["failover"]["BenchmarkFailover"]; f != nil {
		row("push → graph across a stream leader's loss and a Postgres failover (3-node JetStream, R3, synchronous standby; 10 pushes/s)",
			"p50 "+f0(f["p50-ms"])+" ms, p99 "+f0(f["p99-ms"])+" ms", "longest within 5 s of each fault: leader loss "+f0(f["leader-loss-max-ms"])+" ms, failover "+f0(f["failover-max-ms"])+" ms", "")
	}
	if r3 := got["worker processes"]["BenchmarkWorkers/nats=3"]; r3 != nil {
		row("1 worker process, 3-node JetStream cluster, streams R3", f1(r3["events/s-1w"])+" events/s", "one nats-server: "+f1(wk["events/s-1w"])+" events/s", f2(r3["r3-vs-1"])+"×")
		row("2 worker processes, R3", f1(r3["events/s-2w"])+" events/s", "1 worker, R3", f2(r3["scale-2w"])+"×")
		row("4 worker processes, R3", f1(r3["events/s-4w"])+" events/s", "1 worker, R3", f2(r3["scale-4w"])+"×")
	}
	if r := got["layer index writes"]["BenchmarkRun"]; r != nil {
		for _, reg := range []struct{ key, what string }{{"image", "one image"}, {"registry", "48 images"}} {
			row("`scan --layers`' layer runs ("+reg.what+", "+f0(r[reg.key+"-layers"])+" layers, "+f0(r["jobs"])+" jobs): the database one layer at a time, more as they wait for it",
				f1(r[reg.key+"-growing-ms"])+" ms, "+f0(r[reg.key+"-growing-pg-cpu-ms"])+" ms of Postgres CPU",
				"a connection per job: "+f1(r[reg.key+"-per-job-ms"])+" ms, "+f0(r[reg.key+"-per-job-pg-cpu-ms"])+" ms of Postgres CPU",
				f2(r[reg.key+"-growing-ms"]/r[reg.key+"-per-job-ms"])+"× the time")
		}
	}
	if f := got["first fold"]; f["BenchmarkFold/counted-once"] != nil && f["BenchmarkFold/upserted"] != nil {
		once, each := f["BenchmarkFold/counted-once"], f["BenchmarkFold/upserted"]
		rate := func(r map[string]float64) float64 { return r["images"] / (r["fold-ms"] / 1000) }
		row("first fold of a synthetic history of "+f0(once["images"])+" images (`synthgraph`'s last phase; memberships counted once)",
			f0(once["fold-ms"])+" ms, "+f0(rate(once))+" images/s", "every change upserted: "+f0(each["fold-ms"])+" ms, "+f0(rate(each))+" images/s",
			f2(each["fold-ms"]/once["fold-ms"])+"× faster")
	}
	if f := got["fixed cost of a report"]["BenchmarkFixedCost"]; f != nil {
		row("fixed cost of a report (`layerq storage --by namespace`, one kept row), local default cluster, no URL given", f0(f["local-p50-ms"])+" ms",
			"limit: 30 ms; with --database-url: "+f0(f["url-p50-ms"])+" ms; `layerq --help`: "+f0(f["help-p50-ms"])+" ms; one connection alone: "+f0(f["connect-p50-ms"])+" ms",
			f2(f["local-p50-ms"]/30)+"× of the limit")
	}
	if d := got["registry to bloat report vs skopeo + dive"]["BenchmarkBloatVsDive"]; d != nil {
		row("registry → bloat report, one 153 MB image (`scan --layers` "+f2(d["layerq-scan-s"])+" s, `bloat` "+f2(d["layerq-bloat-s"])+" s; bench/bloat_vs_dive.sh)",
			f2(d["layerq-s"])+" s", "skopeo copy + dive --ci: "+f2(d["peer-s"])+" s", f1(d["peer/layerq"])+"× faster (goal ≥ 4×)")
	}

	// Report latency at both sizes.
	sizes := []string{"10k", big}
	reports := map[string]map[string]float64{} // report -> size -> p50 ms
	for i, name := range []string{"reports at 10k images", "reports at " + big + " images"} {
		for bn, v := range got[name] {
			rep := strings.TrimPrefix(bn, "BenchmarkReports/")
			if reports[rep] == nil {
				reports[rep] = map[string]float64{}
			}
			reports[rep][sizes[i]] = v["p50-ms"]
		}
	}
	var names []string
	for n := range reports {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(&s, "\nReport latency, p50 of 11, synthetic graphs (bench/synth); the peer is the naive `GROUP BY` over every edge that the kept aggregates replace, in the same run:\n\n| report | 10k images | %s images | growth | against naive GROUP BY at %s |\n|---|---|---|---|---|\n", big, big)
	naive := reports["naive-group-by"][big]
	for _, n := range names {
		a, b := reports[n]["10k"], reports[n][big]
		growth, vs := "", ""
		if a > 0 {
			growth = f1(b/a) + "×"
		}
		switch {
		case b <= 0 || naive <= 0:
		case n == "naive-group-by":
			vs = "itself"
		case b <= naive:
			vs = f0(naive/b) + "× faster"
		default:
			vs = f1(b/naive) + "× slower"
		}
		fmt.Fprintf(&s, "| %s | %s ms | %s ms | %s | %s |\n", n, f1(a), f1(b), growth, vs)
	}
	procSizes, procNames, procs := processes(got, big)
	if len(procNames) > 0 {
		fmt.Fprintf(&s, "\nEvery report as a user runs it: the `layerq` process from exec to exit (BenchmarkProcess), p50 of 5 after a warm run, on the synthetic graphs; the goal is 150 ms at 1M images (file-level reports on the graph with file indexes), of which 30 ms fixed cost (`storage-by-namespace` reads one small kept row: its time is the fixed cost; `help` opens no database):\n\n| report |")
		for _, z := range procSizes {
			fmt.Fprintf(&s, " %s |", z.label)
		}
		s.WriteString("\n|---|")
		for range procSizes {
			s.WriteString("---|")
		}
		s.WriteString("\n")
		for _, n := range procNames {
			fmt.Fprintf(&s, "| %s |", n)
			for _, z := range procSizes {
				v, ok := procs[n][z.label]
				switch {
				case !ok:
					s.WriteString(" – |")
				case v < 0:
					fmt.Fprintf(&s, " over %s s |", f0(-v))
				default:
					fmt.Fprintf(&s, " %s ms |", f0(v))
				}
			}
			s.WriteString("\n")
		}
	}
	if pn := got["dashboard panels at "+big+" images"]; len(pn) > 0 {
		type panel struct {
			name string
			ms   float64
		}
		var ps []panel
		over := 0
		for n, v := range pn {
			if name, ok := strings.CutPrefix(n, "BenchmarkPanels/"); ok {
				ps = append(ps, panel{name, v["p50-ms"]})
				if v["p50-ms"] > 100 {
					over++
				}
			}
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i].ms > ps[j].ms || ps[i].ms == ps[j].ms && ps[i].name < ps[j].name })
		fmt.Fprintf(&s, "\nDashboard panel queries as Grafana runs them on each refresh (BenchmarkPanels, every value of each variable), p50 of 5, %s images; goal 100 ms, %d of %d over:\n\n| dashboard/panel | p50 |\n|---|---|\n", big, over, len(ps))
		for _, p := range ps {
			fmt.Fprintf(&s, "| %s | %s ms |\n", p.name, f1(p.ms))
		}
	}
	if err := os.MkdirAll(filepath.Join(docs, "img"), 0o755); err != nil {
		return "", err
	}
	if len(procNames) > 0 {
		if err := plotProcesses(filepath.Join(docs, "img", "bench-processes.svg"), procSizes, procNames, procs); err != nil {
			return "", err
		}
	}
	if err := plotWorkers(filepath.Join(docs, "img", "bench-workers.svg"), wk); err != nil {
		return "", err
	}
	if err := plotReports(filepath.Join(docs, "img", "bench-reports.svg"), names, reports, big); err != nil {
		return "", err
	}
	s.WriteString("\n![events/s against worker processes](img/bench-workers.svg)\n![report latency against graph size](img/bench-reports.svg)\n")
	if len(procNames) > 0 {
		s.WriteString("![process wall time of every report against graph size](img/bench-processes.svg)\n")
	}
	return s.String(), nil
}

func plotWorkers(path string, wk map[string]float64) error {
	p := plot.New()
	p.Title.Text = "layerq workers: events/s against worker processes"
	p.X.Label.Text = "worker processes"
	p.Y.Label.Text = "events/s"
	pts := plotter.XYs{{X: 1, Y: wk["events/s-1w"]}, {X: 2, Y: wk["events/s-2w"]}, {X: 4, Y: wk["events/s-4w"]}}
	ideal := plotter.XYs{{X: 1, Y: wk["events/s-1w"]}, {X: 2, Y: 2 * wk["events/s-1w"]}, {X: 4, Y: 4 * wk["events/s-1w"]}}
	if err := plotutil.AddLinePoints(p, "measured", pts, "linear", ideal); err != nil {
		return err
	}
	p.Y.Min = 0
	p.Legend.Top, p.Legend.Left = true, true
	return p.Save(6*vg.Inch, 4*vg.Inch, path)
}

func plotReports(path string, names []string, reports map[string]map[string]float64, big string) error {
	p := plot.New()
	p.Title.Text = "layerq reports: p50 latency against graph size"
	p.X.Label.Text = "images in the graph (thousands)"
	p.Y.Label.Text = "ms (log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	bigK, _ := strconv.ParseFloat(big, 64)
	for i, n := range names {
		pts := plotter.XYs{{X: 10, Y: max(reports[n]["10k"], 0.01)}, {X: bigK / 1000, Y: max(reports[n][big], 0.01)}}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		c := plotutil.Color(i)
		l.Color, sc.Color = c, c
		sc.Shape = plotutil.Shape(i)
		p.Add(l, sc)
		p.Legend.Add(n, l, sc)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.X.Min, p.X.Max = 0, bigK/1000*1.05
	return p.Save(7*vg.Inch, 5*vg.Inch, path)
}

// graphSize is one graph BenchmarkProcess ran on.
type graphSize struct {
	label  string  // column heading
	images float64 // for the plot's x axis
	files  bool
}

// processes gathers BenchmarkProcess's medians by case and graph:
// case -> label -> ms, negative for a case that timed out (its timeout in
// seconds, negated).
func processes(got map[string]results, big string) ([]graphSize, []string, map[string]map[string]float64) {
	bigN, _ := strconv.ParseFloat(big, 64)
	candidates := []struct {
		bench string
		size  graphSize
	}{
		{"processes at 10k images", graphSize{"10k images", 10000, false}},
		{"processes at " + big + " images", graphSize{big + " images", bigN, false}},
		{"processes at " + big + " images with file indexes", graphSize{big + " images, file indexes", bigN, true}},
		{"processes at 1000000 images", graphSize{"1000000 images", 1000000, false}},
	}
	var sizes []graphSize
	procs := map[string]map[string]float64{}
	for _, c := range candidates {
		r := got[c.bench]
		if len(r) == 0 {
			continue
		}
		sizes = append(sizes, c.size)
		for n, v := range r {
			name, ok := strings.CutPrefix(n, "BenchmarkProcess/")
			if !ok {
				continue
			}
			if procs[name] == nil {
				procs[name] = map[string]float64{}
			}
			if t, ok := v["timed-out-s"]; ok {
				procs[name][c.size.label] = -t
			} else {
				procs[name][c.size.label] = v["p50-ms"]
			}
		}
	}
	var names []string
	for n := range procs {
		names = append(names, n)
	}
	sort.Strings(names)
	return sizes, names, procs
}

// plotProcesses draws the growth curve: each report's process wall time
// against the images in the graph (the graphs without file indexes; the
// file-level reports have their own line on the graph with them).
func plotProcesses(path string, sizes []graphSize, names []string, procs map[string]map[string]float64) error {
	p := plot.New()
	p.Title.Text = "layerq reports as processes: p50 wall time against graph size"
	p.X.Label.Text = "images in the graph (log scale; dashed: the graph with file indexes)"
	p.Y.Label.Text = "ms (log scale)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	for i, n := range names {
		for _, files := range []bool{false, true} {
			var pts plotter.XYs
			for _, z := range sizes {
				if v, ok := procs[n][z.label]; ok && v > 0 && z.files == files {
					pts = append(pts, plotter.XY{X: z.images, Y: v})
				}
			}
			if len(pts) == 0 {
				continue
			}
			l, sc, err := plotter.NewLinePoints(pts)
			if err != nil {
				return err
			}
			c := plotutil.Color(i)
			l.Color, sc.Color = c, c
			sc.Shape = plotutil.Shape(i)
			if files {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			p.Add(l, sc)
			if !files {
				p.Legend.Add(n, l, sc)
			}
		}
	}
	goal := plotter.NewFunction(func(float64) float64 { return 150 })
	goal.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
	p.Add(goal)
	p.Legend.Add("goal 150 ms", goal)
	p.Legend.Top, p.Legend.Left = true, true
	p.X.Min, p.X.Max = 8000, 1.25e6
	return p.Save(8*vg.Inch, 6*vg.Inch, path)
}

// The section of docs/benchmarks.md the suite owns.
const (
	begin = "<!-- benchsuite:begin (written by go tool task bench) -->"
	end   = "<!-- benchsuite:end -->"
)

// splice replaces the suite's section of path, or appends one.
func splice(path, section string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc := string(b)
	block := begin + "\n" + section + end
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i >= 0 && j > i {
		doc = doc[:i] + block + doc[j+len(end):]
	} else {
		doc = strings.TrimRight(doc, "\n") + "\n\n## Suite\n\n" + block + "\n"
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}

// workersOn is BenchmarkWorkers' figures on nodes nats-servers (results
// from before the nats=N runs are the one-server figures).
func workersOn(got map[string]results, nodes int) map[string]float64 {
	if r := got["worker processes"][fmt.Sprintf("BenchmarkWorkers/nats=%d", nodes)]; r != nil {
		return r
	}
	return got["worker processes"]["BenchmarkWorkers"]
}
