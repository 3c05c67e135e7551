package dashboards_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/bench/synth"
	"github.com/layerq/layerq/internal/demo"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/image"
	"github.com/layerq/layerq/internal/quarantine"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

// seed fills a fresh graph with the demo registry: pushed through the
// webhooks, every layer indexed, aggregates folded, waste worked out, and
// two failures recorded.
func seed(t *testing.T) (dbURL string, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	dbURL = pgtest.NewDatabase(t)
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	// The demo as `go tool task demo` runs it: pushed to a registry that
	// notifies serve, so the graph has the history a scan cannot see (the
	// base tag pushed twice), every layer indexed.
	if err := demo.Run(ctx, demo.Options{Pool: pool, DataDir: t.TempDir(), Out: io.Discard, ErrOut: io.Discard}); err != nil {
		t.Fatal(err)
	}
	store := graph.New(pool)
	if _, err := store.ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	// The images' waste, and its fold, as serve works them out.
	if err := report.SettleWaste(ctx, pool, report.BloatOptions{Repositories: repoglob.Compile("**")}, store, 0); err != nil {
		t.Fatal(err)
	}
	for _, f := range []graph.Failure{
		{Registry: "demo-registry", Repository: "team-x/gone", Reference: "sha256:" + strings.Repeat("0", 64), Source: "distribution", Class: "not_found", Reason: "manifest unknown"},
		{Registry: "demo-registry", Repository: "team-x/old", Reference: "v1", Source: "scan", Class: "unsupported", Reason: "schema 1 manifest"},
	} {
		if err := store.RecordFailure(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	// A malformed event kept aside, and the registry reached by a name its
	// configuration did not list.
	body := []byte(`{"events":[{"id":"e1","timestamp":"2026-12-03T10:00:00Z","action":"push","target":{"repository":"Team/App","digest":"sha256:` + strings.Repeat("1", 64) + `"},"request":{"host":"localhost:5000"}}]}`)
	it := quarantine.Item{Source: "distribution", Reason: quarantine.MalformedEvent, Detail: `distribution: event 0 (push): invalid repository name "Team/App"`,
		Kind: quarantine.KindBody, Data: body, Header: map[string]string{"Content-Type": "application/json"}, ReceivedAt: time.Now().UTC()}
	it.ID = quarantine.NewID(it.Source, it.Registry, it.Kind, it.Data, it.Header)
	if err := store.SaveQuarantine(ctx, it); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SeeAlias(ctx, "demo-registry", "localhost:5000"); err != nil {
		t.Fatal(err)
	}
	return dbURL, pool
}

// readerURL creates a login role that is a member of layerq_reader, as
// Grafana's would be, and returns dbURL connecting as it.
func readerURL(t *testing.T, admin *pgxpool.Pool, dbURL string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	role, password := "grafana_"+hex.EncodeToString(b), hex.EncodeToString(b)+"-pw"
	ctx := context.Background()
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s' IN ROLE layerq_reader", role, password)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+role) })
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, password)
	return u.String()
}

// timeRange is the dashboards' time range in the test: wide enough for the
// demo's build dates.
var timeRange = struct{ from, to time.Time }{time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Now().Add(24 * time.Hour).UTC()}

// macro matches Grafana's SQL macros: $__name(args).
var macro = regexp.MustCompile(`\$(__[a-zA-Z]+)\(([^)]*)\)`)

// expand does what Grafana's Postgres datasource does to a panel's SQL
// before running it: template variables (every value, as "All" selects),
// then the time macros, as grafana-postgresql-datasource defines them.
func expand(t testing.TB, sql string, values map[string][]string) string {
	t.Helper()
	return expandIn(t, sql, values, timeRange.from, timeRange.to)
}

// expandIn is expand over the time range from, to.
func expandIn(t testing.TB, sql string, values map[string][]string, from, to time.Time) string {
	t.Helper()
	sql = varRef.ReplaceAllStringFunc(sql, func(ref string) string {
		m := varRef.FindStringSubmatch(ref)
		name := m[1] + m[2]
		if strings.HasPrefix(name, "__") {
			return ref // a macro or a global variable
		}
		vals, ok := values[name]
		if !ok {
			t.Errorf("query uses $%s, which has no values", name)
			return ref
		}
		if len(vals) == 1 && strings.HasPrefix(vals[0], customAll) {
			return strings.TrimPrefix(vals[0], customAll) // as written
		}
		format := "sqlstring" // an SQL datasource quotes multi-values
		if i := strings.Index(ref, ":"); i > 0 {
			format = strings.TrimSuffix(ref[i+1:], "}")
		}
		quoted := make([]string, len(vals))
		for i, v := range vals {
			switch format {
			case "sqlstring", "singlequote":
				quoted[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
			case "csv", "raw":
				quoted[i] = v
			default:
				t.Errorf("variable format %q is not one the test knows", format)
			}
		}
		return strings.Join(quoted, ",")
	})
	ts := func(x time.Time) string { return x.Format(time.RFC3339Nano) }
	sql = macro.ReplaceAllStringFunc(sql, func(call string) string {
		m := macro.FindStringSubmatch(call)
		var args []string
		for _, a := range strings.Split(m[2], ",") {
			args = append(args, strings.TrimSpace(a))
		}
		switch m[1] {
		case "__timeFilter":
			return fmt.Sprintf("%s BETWEEN '%s' AND '%s'", args[0], ts(from), ts(to))
		case "__timeFrom":
			return "'" + ts(from) + "'"
		case "__timeTo":
			return "'" + ts(to) + "'"
		case "__time":
			return args[0] + ` AS "time"`
		case "__timeGroup", "__timeGroupAlias":
			d, err := time.ParseDuration(strings.Trim(args[1], "'"))
			if err != nil {
				t.Errorf("%s: %v", call, err)
			}
			s := fmt.Sprintf("floor(extract(epoch from %s)/%v)*%v", args[0], d.Seconds(), d.Seconds())
			if m[1] == "__timeGroupAlias" {
				s += ` AS "time"`
			}
			return s
		case "__unixEpochFilter":
			return fmt.Sprintf("%s >= %d AND %s <= %d", args[0], from.Unix(), args[0], to.Unix())
		}
		t.Errorf("macro %s is not one the test expands", call)
		return call
	})
	if strings.Contains(sql, "$") {
		t.Errorf("left unexpanded: %s", sql)
	}
	return sql
}

// result is what a query returned.
type result struct {
	columns []string
	types   []uint32
	rows    [][]any
}

// customAll marks a variable at "All" that has a custom all value:
// Grafana puts that value into a query as written in the formats these
// queries ask for (sqlstring, csv, raw: its template service formats a
// custom all value only for text and percent-encoding).
const customAll = "$__all="

// allValues selects every value of each variable of d, one by one, the
// variables in order: each may use the ones before it.
func allValues(t testing.TB, db *pgxpool.Pool, d dashboard) map[string][]string {
	t.Helper()
	values := map[string][]string{}
	for _, v := range d.Templating.List {
		for _, row := range run(t, db, expand(t, v.Query, values)).rows {
			values[v.Name] = append(values[v.Name], fmt.Sprint(row[0]))
		}
	}
	return values
}

// grafanaAll is what Grafana sends for "All", the dashboards' default:
// a variable's custom all value where it has one, else every value.
func grafanaAll(t testing.TB, db *pgxpool.Pool, d dashboard) map[string][]string {
	t.Helper()
	return sentForAll(d, allValues(t, db, d))
}

// sentForAll is values with each variable of d that has a custom all
// value set to it.
func sentForAll(d dashboard, values map[string][]string) map[string][]string {
	sent := maps.Clone(values)
	for _, v := range d.Templating.List {
		if v.IncludeAll && v.AllValue != "" {
			sent[v.Name] = []string{customAll + v.AllValue}
		}
	}
	return sent
}

// panelSQL is the first query of the panel of type typ titled title.
func panelSQL(t testing.TB, title, typ string) string {
	t.Helper()
	for _, d := range loadDashboards(t) {
		for _, p := range d.leaves() {
			if p.Title == title && p.Type == typ {
				return p.Targets[0].RawSQL
			}
		}
	}
	t.Fatalf("no %s panel %q", typ, title)
	return ""
}

func run(t testing.TB, db *pgxpool.Pool, sql string) result {
	t.Helper()
	rows, err := db.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	defer rows.Close()
	var r result
	for _, f := range rows.FieldDescriptions() {
		r.columns = append(r.columns, f.Name)
		r.types = append(r.types, f.DataTypeOID)
	}
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		r.rows = append(r.rows, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	return r
}

// rowsOf runs sql and prints each row.
func rowsOf(t testing.TB, db *pgxpool.Pool, sql string) []string {
	t.Helper()
	var out []string
	for _, r := range run(t, db, sql).rows {
		out = append(out, fmt.Sprint(r...))
	}
	return out
}

func numeric(oid uint32) bool {
	switch oid {
	case 20, 21, 23, 700, 701, 1700: // int8, int2, int4, float4, float8, numeric
		return true
	}
	return false
}

// Every Postgres panel and variable runs as a member of layerq_reader on the
// seeded graph, returns rows, and returns the columns the panel lays out.
func TestPanelQueries(t *testing.T) {
	t.Parallel()
	dbURL, admin := seed(t)
	reader, err := pgxpool.New(context.Background(), readerURL(t, admin, dbURL))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()

	queries := 0
	for _, d := range loadDashboards(t) {
		t.Run(d.UID, func(t *testing.T) {
			values := allValues(t, reader, d)
			sent := grafanaAll(t, reader, d)
			for _, v := range d.Templating.List {
				if len(values[v.Name]) == 0 {
					t.Fatalf("variable %s has no values on the seeded graph", v.Name)
				}
				// A registry has thousands of repositories: "All" must
				// not send each one's name with every panel's query.
				if v.Name == "repository" && (!v.IncludeAll || v.AllValue == "") {
					t.Errorf("variable %s has no custom all value", v.Name)
				}
			}
			for _, p := range d.leaves() {
				frames := map[string]result{}
				for _, tg := range p.Targets {
					if tg.RawSQL == "" {
						continue
					}
					queries++
					res := run(t, reader, expand(t, tg.RawSQL, values))
					frames[tg.RefID] = res
					what := fmt.Sprintf("panel %q", p.Title)
					// "All" as Grafana sends it reads what every value
					// chosen one by one reads (some panels then read a
					// registry-wide rollup instead).
					if all := run(t, reader, expand(t, tg.RawSQL, sent)); fmt.Sprint(all.rows) != fmt.Sprint(res.rows) {
						t.Errorf("%s with \"All\" as Grafana sends it:\n%v\nwith every value chosen:\n%v", what, all.rows, res.rows)
					}
					if len(res.rows) == 0 {
						t.Errorf("%s returns no rows on the seeded graph", what)
					}
					switch p.Type {
					case "table":
						if want := p.columns(); strings.Join(res.columns, ",") != strings.Join(want, ",") {
							t.Errorf("%s returns columns %v, lays out %v", what, res.columns, want)
						}
					case "stat":
						i := indexOf(res.columns, p.statField())
						if i < 0 || !numeric(res.types[i]) {
							t.Errorf("%s shows %q: not a numeric column of %v", what, p.statField(), res.columns)
						} else if len(res.rows) > 0 && res.rows[0][i] == nil {
							t.Errorf("%s: %s is NULL on the seeded graph", what, p.statField())
						}
					case "timeseries":
						if tg.Format != "time_series" || len(res.columns) < 2 || res.columns[0] != "time" || res.types[0] != 1184 {
							t.Errorf("%s: a time series wants format time_series and a timestamptz time column first: %s %v", what, tg.Format, res.columns)
						}
						for i, c := range res.columns[1:] {
							if c != "metric" && !numeric(res.types[i+1]) {
								t.Errorf("%s: column %s is neither metric nor numeric", what, c)
							}
						}
					}
				}
				if p.Type == "nodegraph" {
					checkNodeGraph(t, p.Title, frames["nodes"], frames["edges"])
				}
			}
		})
	}
	if queries < 20 {
		t.Errorf("%d SQL panel queries ran", queries)
	}

	// The bases: the demo pushed library/debian:12 at 12.7, built
	// library/python, its zstd mirror and team-c/legacy:1.0 on it, then
	// pushed 12.8 over the tag and built team-c/legacy:1.1 on that; the
	// apps on python are on python's build, which its tag still names.
	panelRows := func(title, refID string) result {
		t.Helper()
		for _, d := range loadDashboards(t) {
			for _, p := range d.leaves() {
				for _, tg := range p.Targets {
					if p.Title == title && tg.RefID == refID {
						return run(t, reader, expand(t, tg.RawSQL, map[string][]string{"registry": {"demo-registry"}}))
					}
				}
			}
		}
		t.Fatalf("no panel %q", title)
		return result{}
	}
	var stale []string
	for _, r := range panelRows("Stale dependents per base", "A").rows {
		stale = append(stale, fmt.Sprintf("%v %v %v", r[1], r[2], r[3]))
	}
	slices.Sort(stale)
	if want := []string{"library/debian:12 library/python 1", "library/debian:12 mirror/python 1", "library/debian:12 team-c/legacy 1"}; !slices.Equal(stale, want) {
		t.Errorf("stale dependents %q, want %q", stale, want)
	}
	edges := map[string]string{}
	for _, r := range panelRows("Base lineage", "edges").rows {
		edges[fmt.Sprint(r[0])] = fmt.Sprintf("%v %v", r[3], r[6])
	}
	for id, want := range map[string]string{
		"demo-registry/library/debian -> demo-registry/team-c/legacy":  "2 red", // 1.0 on 12.7, 1.1 on 12.8
		"demo-registry/library/debian -> demo-registry/library/python": "1 red",
		"demo-registry/library/python -> demo-registry/team-a/api":     "2 green", // 1.0 and 1.0-rebuild
		"demo-registry/library/alpine -> demo-registry/team-b/web":     "2 green",
	} {
		if edges[id] != want {
			t.Errorf("lineage edge %s: %q, want %q (images, color)", id, edges[id], want)
		}
	}

	// Each node: the images on its bases (the edges into it), its
	// dependents (the edges out of it), the share of its images on stale
	// builds, as the edges frame says.
	lineage := panelRows("Base lineage", "edges")
	into, out, staleOf := map[string]int64{}, map[string]int64{}, map[string]int64{}
	for _, r := range lineage.rows {
		src, dst := fmt.Sprint(r[indexOf(lineage.columns, "source")]), fmt.Sprint(r[indexOf(lineage.columns, "target")])
		into[dst] += r[indexOf(lineage.columns, "mainstat")].(int64)
		staleOf[dst] += r[indexOf(lineage.columns, "detail__stale_images")].(int64)
		out[src]++
	}
	nodes := panelRows("Base lineage", "nodes")
	if len(nodes.rows) < 6 {
		t.Errorf("lineage nodes: %d, want the demo's 6 or more", len(nodes.rows))
	}
	for _, r := range nodes.rows {
		id := fmt.Sprint(r[indexOf(nodes.columns, "id")])
		wantStale := 0.0
		if into[id] > 0 {
			wantStale = float64(staleOf[id]) / float64(into[id])
		}
		if got := fmt.Sprint(r[indexOf(nodes.columns, "mainstat")], " ", r[indexOf(nodes.columns, "secondarystat")], " ", r[indexOf(nodes.columns, "arc__stale")]); got != fmt.Sprint(into[id], " ", out[id], " ", wantStale) {
			t.Errorf("lineage node %s: %s (images, dependents, stale share), want %d %d %v", id, got, into[id], out[id], wantStale)
		}
	}

	// The views show what the reports say.
	ctx := context.Background()
	st, err := report.LoadStorage(ctx, admin, report.StorageOptions{By: report.ByRepository, Names: repoglob.Compile("**")})
	if err != nil {
		t.Fatal(err)
	}
	var logical, physical int64
	var ratio float64
	if err := reader.QueryRow(ctx, `SELECT logical_bytes, physical_bytes, dedup_ratio FROM storage_registries`).Scan(&logical, &physical, &ratio); err != nil {
		t.Fatal(err)
	}
	if r := st.Registries[0]; logical != r.LogicalBytes || physical != r.PhysicalBytes || logical <= physical {
		t.Errorf("storage_registries logical %d physical %d; layerq storage says %d and %d", logical, physical, r.LogicalBytes, r.PhysicalBytes)
	}
	bloat, err := report.LoadBloat(ctx, admin, report.BloatOptions{Repositories: repoglob.Compile("**")})
	if err != nil {
		t.Fatal(err)
	}
	var repo string
	var wasted, wastedCompressed int64
	if err := reader.QueryRow(ctx, `SELECT repository, wasted_bytes, wasted_compressed_bytes FROM bloated_images ORDER BY wasted_bytes DESC, repository LIMIT 1`).Scan(&repo, &wasted, &wastedCompressed); err != nil {
		t.Fatal(err)
	}
	if top := bloat.Images[0]; repo != top.Repository || wasted != top.WastedBytes || wastedCompressed != top.WastedCompressedBytes || wasted == 0 {
		t.Errorf("bloated_images top: %s wastes %d (%d compressed); layerq bloat: %s %d (%d)", repo, wasted, wastedCompressed, top.Repository, top.WastedBytes, top.WastedCompressedBytes)
	}
	var analyzed int
	if err := reader.QueryRow(ctx, `SELECT count(*) FROM image_waste`).Scan(&analyzed); err != nil || analyzed != bloat.Analyzed-dupImages(t, reader) {
		t.Errorf("image_waste rows = %d (%v); the bloat report analyzed %d images", analyzed, err, bloat.Analyzed)
	}

	// The duplicate encodings of the one registry are the blob duplicates
	// layerq reports over every repository (the demo mirrors python in
	// zstd).
	dups, err := report.LoadDuplicates(ctx, admin, report.DuplicatesOptions{Kind: "blob", Repositories: repoglob.Compile("**"), Limit: 15})
	if err != nil {
		t.Fatal(err)
	}
	var wantDups []string
	for _, l := range dups.(*report.BlobDuplicates).Layers {
		wantDups = append(wantDups, fmt.Sprint(l.DiffID, " ", len(l.Blobs), " ", l.StoredBytes, " ", l.BytesStoredTwice))
	}
	var gotDups []string
	for _, r := range panelRows("Duplicate blobs", "A").rows {
		gotDups = append(gotDups, fmt.Sprint(r[1], " ", r[2], " ", r[3], " ", r[4]))
	}
	if len(wantDups) == 0 || !slices.Equal(gotDups, wantDups) {
		t.Errorf("Duplicate blobs panel:\n%s\nlayerq duplicates --kind blob:\n%s", strings.Join(gotDups, "\n"), strings.Join(wantDups, "\n"))
	}

	// The builds compared in a range, and the repositories that grew most
	// in it, are what the comparisons themselves say: over ranges that
	// start and end inside the comparisons' days, span a midnight or none.
	var times []time.Time
	rows, err := reader.Query(ctx, `SELECT DISTINCT occurred_at FROM cache_history ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var at time.Time
		if err := rows.Scan(&at); err != nil {
			t.Fatal(err)
		}
		times = append(times, at)
	}
	if rows.Err() != nil || len(times) < 3 {
		t.Fatalf("%d comparison times on the demo (%v); want 3 or more to cut ranges between", len(times), rows.Err())
	}
	// Every repository chosen one by one, and "All" as Grafana sends it
	// (the whole days then come from the registry's rollup).
	var selections []map[string][]string
	for _, r := range loadDashboards(t) {
		if r.UID == "layerq-cache" {
			selections = append(selections, allValues(t, reader, r), grafanaAll(t, reader, r))
		}
	}
	if len(selections) == 0 {
		t.Fatal("no layerq-cache dashboard")
	}
	first, mid, last := times[0], times[len(times)/2], times[len(times)-1]
	midnight := mid.UTC().Truncate(24 * time.Hour)
	for _, rg := range []struct{ from, to time.Time }{
		{timeRange.from, timeRange.to},
		{first, last},
		{first.Add(time.Microsecond), last.Add(-time.Microsecond)},
		{mid, mid},
		{midnight.Add(-time.Hour), midnight.Add(time.Hour)},
		{midnight.Add(-48 * time.Hour), mid},
		{mid, midnight.Add(72 * time.Hour)},
		{midnight, midnight.Add(24*time.Hour - time.Microsecond)},
	} {
		var want, got int64
		if err := reader.QueryRow(ctx, `SELECT count(*) FROM cache_history WHERE occurred_at BETWEEN $1 AND $2`, rg.from, rg.to).Scan(&want); err != nil {
			t.Fatal(err)
		}
		for _, all := range selections {
			if err := reader.QueryRow(ctx, expandIn(t, panelSQL(t, "Builds compared in range", "stat"), all, rg.from, rg.to)).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("Builds compared in range %s – %s, repositories %.40q: %d; the comparisons in it: %d",
					rg.from.Format(time.RFC3339Nano), rg.to.Format(time.RFC3339Nano), all["repository"], got, want)
			}
		}
	}
	// Each day's growth of the ten repositories that grew most, over the
	// whole days (UTC) the range touches.
	for i, rg := range []struct{ from, to time.Time }{
		{timeRange.from, timeRange.to},
		{mid, mid},
		{midnight.Add(-time.Hour), midnight.Add(time.Hour)},
		{first.Add(time.Microsecond), last.Add(-time.Microsecond)},
	} {
		wantGrowth := rowsOf(t, reader, growthFromComparisons(rg.from, rg.to))
		for _, all := range selections {
			gotGrowth := rowsOf(t, reader, growthAsShown(t, panelSQL(t, "Growth per repository", "timeseries"), all, rg.from, rg.to))
			if (i == 0 && len(wantGrowth) == 0) || !slices.Equal(gotGrowth, wantGrowth) {
				t.Errorf("Growth per repository %s – %s, repositories %.40q:\n%s\nthe comparisons of those days say:\n%s", rg.from.Format(time.RFC3339Nano), rg.to.Format(time.RFC3339Nano),
					all["repository"], strings.Join(gotGrowth, "\n"), strings.Join(wantGrowth, "\n"))
			}
		}
	}

	// Each month's reuse of the ten repositories whose compared builds
	// pushed the most bytes in the months the range touches.
	for i, rg := range []struct{ from, to time.Time }{
		{timeRange.from, timeRange.to},
		{mid, mid},
		{first.Add(time.Microsecond), last.Add(-time.Microsecond)},
		{midnight.Add(-40 * 24 * time.Hour), midnight.Add(-39 * 24 * time.Hour)},
	} {
		wantReuse := rowsOf(t, reader, reuseFromComparisons(rg.from, rg.to))
		for _, all := range selections {
			gotReuse := rowsOf(t, reader, expandIn(t, panelSQL(t, "Reuse per repository", "timeseries"), all, rg.from, rg.to))
			if (i < 3 && len(wantReuse) == 0) || !slices.Equal(gotReuse, wantReuse) {
				t.Errorf("Reuse per repository %s – %s, repositories %.40q:\n%s\nthe comparisons of those months say:\n%s", rg.from.Format(time.RFC3339Nano), rg.to.Format(time.RFC3339Nano),
					all["repository"], strings.Join(gotReuse, "\n"), strings.Join(wantReuse, "\n"))
			}
		}
	}

	// Once everything is indexed and folded, the backlog is empty.
	var changes, layersPending int64
	if err := reader.QueryRow(ctx, `SELECT aggregate_changes, layers_pending FROM ingest_backlog`).Scan(&changes, &layersPending); err != nil || changes != 0 || layersPending != 0 {
		t.Errorf("ingest_backlog = %d changes, %d layers (%v); want 0, 0", changes, layersPending, err)
	}
	// base_usage counts as layerq bases does.
	bases, err := report.LoadBases(ctx, admin, report.BasesOptions{Repositories: repoglob.Compile("**")})
	if err != nil {
		t.Fatal(err)
	}
	if len(bases.Bases) == 0 {
		t.Fatal("the demo has no bases")
	}
	for _, b := range bases.Bases {
		var builds, images, repos, stale int64
		err := reader.QueryRow(ctx, `SELECT builds, images, dependent_repositories, stale_images FROM base_usage WHERE registry = $1 AND repository = $2 AND tag = $3`,
			b.Registry, b.Repository, b.Tag).Scan(&builds, &images, &repos, &stale)
		if err != nil || builds != int64(b.Builds) || images != b.Images || repos != int64(b.Repositories) || stale != b.StaleImages {
			t.Errorf("base_usage %s:%s = %d builds, %d images, %d repositories, %d stale (%v); layerq bases: %d, %d, %d, %d",
				b.Repository, b.Tag, builds, images, repos, stale, err, b.Builds, b.Images, b.Repositories, b.StaleImages)
		}
	}

	// layerq_reader writes nothing, and cannot run the applier.
	for _, sql := range []string{
		`INSERT INTO ingest_failures (registry, repository, reference, source, class, reason) VALUES ('r', 'x', 'y', 'z', 'c', 'forged')`,
		`DELETE FROM tags`,
		`UPDATE image_waste SET wasted_bytes = 0`,
		`TRUNCATE aggregate_queue`,
		`CREATE TABLE stolen (x int)`,
		`SELECT layerq_apply_pending()`,
	} {
		_, err := reader.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("as layerq_reader, %s: %v, want permission denied (42501)", sql, err)
		}
	}
}

// seriesName names a repository's series as the panels that show one
// per repository do: by its name, or registry/name when the comparisons
// are of more than one registry (every registry chosen).
const seriesName = `CASE WHEN (SELECT count(DISTINCT registry) FROM cache_history) > 1 THEN registry || '/' || repository ELSE repository END`

// growthFromComparisons is what "Growth per repository" shows over from,
// to, from the comparisons themselves: each day's growth of the ten
// repositories that grew most, over the whole days (UTC) the range
// touches.
func growthFromComparisons(from, to time.Time) string {
	return fmt.Sprintf(`WITH d AS (SELECT registry, repository, (occurred_at AT TIME ZONE 'UTC')::date AS day, total_bytes - from_bytes AS g FROM cache_history
		WHERE (occurred_at AT TIME ZONE 'UTC')::date BETWEEN '%s' AND '%s'),
		top AS (SELECT registry, repository FROM d GROUP BY 1, 2 ORDER BY sum(g) DESC, 2, 1 LIMIT 10)
		SELECT day, `+seriesName+`, sum(g)::float8 FROM d JOIN top USING (registry, repository) GROUP BY 1, 2 ORDER BY 1, 2`,
		from.UTC().Format(time.DateOnly), to.UTC().Format(time.DateOnly))
}

// growthAsShown is the panel's SQL over from, to, its rows as
// growthFromComparisons gives them.
func growthAsShown(t testing.TB, panel string, values map[string][]string, from, to time.Time) string {
	t.Helper()
	return `SELECT ("time" AT TIME ZONE 'UTC')::date, metric, growth_bytes FROM (` + expandIn(t, panel, values, from, to) + `) p`
}

// reuseFromComparisons is what "Reuse per repository" shows over from,
// to, from the comparisons themselves: each month's reuse of the ten
// repositories with the most bytes of compared builds' layers in the
// months (UTC) the range touches.
func reuseFromComparisons(from, to time.Time) string {
	first := time.Date(from.UTC().Year(), from.UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
	return fmt.Sprintf(`WITH c AS (SELECT registry, repository, date_trunc('month', occurred_at AT TIME ZONE 'UTC') AS month, reused_bytes, total_bytes FROM cache_history
			WHERE occurred_at >= '%s' AND date_trunc('month', occurred_at AT TIME ZONE 'UTC') <= ('%s'::timestamptz AT TIME ZONE 'UTC')),
		m AS (SELECT registry, repository, month, sum(reused_bytes) AS reused, sum(total_bytes) AS total FROM c GROUP BY 1, 2, 3),
		top AS (SELECT registry, repository FROM m GROUP BY 1, 2 ORDER BY sum(total) DESC, 2, 1 LIMIT 10)
		SELECT month AT TIME ZONE 'UTC', `+seriesName+`, reused::float8 / nullif(total, 0) FROM m JOIN top USING (registry, repository) ORDER BY 1, 2`,
		first.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
}

// lineageFromBuilds opens a WITH whose e is each (base repository,
// dependent repository) arrow of the base lineage, summed from the base
// builds and their live images per repository.
const lineageFromBuilds = `
			WITH e AS (SELECT rb.registry || '/' || rb.name AS source, r.registry || '/' || r.name AS target, sum(br.images)::bigint AS images, coalesce(sum(br.images) FILTER (WHERE bb.stale), 0)::bigint AS stale_images, string_agg(DISTINCT CASE WHEN bb.base_tag <> '' THEN ':' || bb.base_tag ELSE '@' || left(split_part(bb.base_digest, ':', 2), 12) END, ', ') AS builds
			FROM base_builds bb
			JOIN repositories rb ON rb.id = bb.base_repository_id
			JOIN base_repositories br ON br.base_digest = bb.base_digest AND br.images > 0
			JOIN repositories r ON r.id = br.repository_id
			WHERE rb.registry = ANY (ARRAY[${registry:sqlstring}]::text[]) AND r.id <> rb.id
			GROUP BY 1, 2)`

// On a registry of many repositories, the panels that show ten of them
// show the ten the comparisons say, with "All" as Grafana sends it and
// with every repository chosen.
func TestTopTenPanelsOfManyRepositories(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Grafana's sessions take the server's time zone; the panels work in
	// UTC whatever it is.
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["timezone"] = "America/Los_Angeles"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	opts := synth.Defaults
	opts.Images, opts.PerRepository, opts.Namespaces, opts.Chunk = 900, 15, 4, 500
	sum, err := synth.Generate(ctx, pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	// A mirror in another registry of the repository that grew most, by
	// the same name: its comparisons are the original's (as builds of
	// images, its tags never moved), three times the bytes, all of them
	// added.
	if _, err := pool.Exec(ctx, `
		WITH src AS (SELECT registry, repository FROM cache_history GROUP BY 1, 2 ORDER BY sum(total_bytes - from_bytes) DESC, 1, 2 LIMIT 1),
		mirror AS (INSERT INTO repositories (registry, name) SELECT 'mirror.test', repository FROM src RETURNING id)
		INSERT INTO cache_transitions (repository_id, stream_kind, stream, platform, from_digest, to_digest, occurred_at, reused_layers, total_layers,
			reused_bytes, total_bytes, first_changed_position, first_changed_step, base_from, base_to, base_moved, from_bytes)
		SELECT mirror.id, 'created', c.stream, c.platform, c.from_digest, c.to_digest, c.occurred_at, c.reused_layers, c.total_layers,
			3 * c.reused_bytes, 3 * c.total_bytes, c.first_changed_position, c.first_changed_step, c.base_from, c.base_to, c.base_moved, 0
		FROM mirror, src JOIN cache_history c USING (registry, repository)`); err != nil {
		t.Fatal(err)
	}
	var cache dashboard
	for _, d := range loadDashboards(t) {
		if d.UID == "layerq-cache" {
			cache = d
		}
	}
	selections := []map[string][]string{allValues(t, pool, cache), grafanaAll(t, pool, cache)}
	// The busters count a repository per registry: the mirror's name is
	// the original's.
	wantBusters := rowsOf(t, pool, `SELECT step, first_changed_position = 0 OR base_moved AS b, count(*), count(DISTINCT (registry, repository))
		FROM cache_history WHERE step IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC, 4 DESC, 1, 2 LIMIT 10`)
	for _, values := range selections {
		got := rowsOf(t, pool, `SELECT step, base_changed, busts, repositories FROM (`+expand(t, panelSQL(t, "Top cache busters", "table"), values)+`) p`)
		if len(wantBusters) == 0 || !slices.Equal(got, wantBusters) {
			t.Errorf("Top cache busters, repositories %.40q:\n%s\nthe comparisons say:\n%s", values["repository"], strings.Join(got, "\n"), strings.Join(wantBusters, "\n"))
		}
	}
	until := sum.Until.UTC()
	// The mirror and the original are among the ten that grew most over
	// the whole history, each named with its registry.
	var mirrors, names int
	if err := pool.QueryRow(ctx, `SELECT count(DISTINCT s) FILTER (WHERE s LIKE 'mirror.test/%'), count(DISTINCT split_part(s, '/', 2) || '/' || split_part(s, '/', 3))
		FROM (`+growthFromComparisons(until.AddDate(-2, 0, 0), until)+`) w(at, s, figure)`).Scan(&mirrors, &names); err != nil || mirrors != 1 || names != 9 {
		t.Errorf("growth over the whole history: %d series of the mirror, %d names in ten series (%v); want 1 and 9 (the mirror's is the original's)", mirrors, names, err)
	}
	month := time.Date(until.Year(), until.Month()-1, 1, 0, 0, 0, 0, time.UTC)
	for _, rg := range []struct{ from, to time.Time }{
		{until.AddDate(-2, 0, 0), until.Add(time.Hour)},
		{until.Add(-7 * 24 * time.Hour), until},
		{until.AddDate(0, -2, 0).Add(-5 * time.Hour), until.AddDate(0, -1, 0)},
		// From 03:00 UTC on the first of a month: the day before, where
		// the session is.
		{month.Add(3 * time.Hour), month.AddDate(0, 0, 20)},
		// Whole months with days on both sides, and whole months alone.
		{month.AddDate(0, -3, 14), month.AddDate(0, 0, 9)},
		{month.AddDate(0, -2, 0), month.Add(-time.Microsecond)},
	} {
		wantGrowth, wantReuse := rowsOf(t, pool, growthFromComparisons(rg.from, rg.to)), rowsOf(t, pool, reuseFromComparisons(rg.from, rg.to))
		for name, want := range map[string]string{"growth": growthFromComparisons(rg.from, rg.to), "reuse": reuseFromComparisons(rg.from, rg.to)} {
			var shown, all int
			if err := pool.QueryRow(ctx, `SELECT (SELECT count(DISTINCT repository) FROM (`+want+`) w(at, repository, figure)),
				(SELECT count(DISTINCT repository) FROM cache_history WHERE occurred_at BETWEEN $1 AND $2)`, rg.from, rg.to).Scan(&shown, &all); err != nil {
				t.Fatal(err)
			}
			if shown != 10 || all <= 10 {
				t.Errorf("%s over %s – %s: %d repositories of %d compared in it from the comparisons; want 10 of more", name, rg.from, rg.to, shown, all)
			}
		}
		for _, values := range selections {
			if got := rowsOf(t, pool, growthAsShown(t, panelSQL(t, "Growth per repository", "timeseries"), values, rg.from, rg.to)); !slices.Equal(got, wantGrowth) {
				t.Errorf("Growth per repository %s – %s, repositories %.40q:\n%s\nthe comparisons say:\n%s", rg.from, rg.to, values["repository"],
					strings.Join(got, "\n"), strings.Join(wantGrowth, "\n"))
			}
			if got := rowsOf(t, pool, expandIn(t, panelSQL(t, "Reuse per repository", "timeseries"), values, rg.from, rg.to)); !slices.Equal(got, wantReuse) {
				t.Errorf("Reuse per repository %s – %s, repositories %.40q:\n%s\nthe comparisons say:\n%s", rg.from, rg.to, values["repository"],
					strings.Join(got, "\n"), strings.Join(wantReuse, "\n"))
			}
		}
	}

	// layerq_growth_in, which "Growth per repository" ranks by, adds up to
	// each stream's comparisons over any range of days: ranges starting
	// and ending on, just before, just after and between the first days
	// of the months around the history.
	ranges := `WITH h AS (SELECT min(occurred_at AT TIME ZONE 'UTC')::date AS lo, max(occurred_at AT TIME ZONE 'UTC')::date AS hi FROM cache_transitions),
		m AS (SELECT generate_series(date_trunc('month', lo - 35), date_trunc('month', hi + 35), interval '2 months')::date AS m FROM h),
		d AS (SELECT DISTINCT x FROM m, LATERAL (VALUES (m), (m - 1), (m + 1), (m + 14)) v(x)),
		r AS (SELECT a.x AS f, b.x AS t FROM d a JOIN d b ON a.x <= b.x)`
	var pairs int
	if err := pool.QueryRow(ctx, ranges+` SELECT count(*) FROM r`).Scan(&pairs); err != nil || pairs < 100 {
		t.Fatalf("%d ranges (%v); want 100 or more", pairs, err)
	}
	kept := rowsOf(t, pool, ranges+` SELECT r.f, r.t, g.repository_id, g.stream_kind, sum(g.pushes), sum(g.growth_bytes)
		FROM r, layerq_growth_in(r.f, r.t) g GROUP BY 1, 2, 3, 4 HAVING sum(g.pushes) <> 0 ORDER BY 1, 2, 3, 4`)
	counted := rowsOf(t, pool, ranges+` SELECT r.f, r.t, c.repository_id, c.stream_kind, count(*), sum(c.total_bytes - c.from_bytes)
		FROM r JOIN cache_transitions c ON (c.occurred_at AT TIME ZONE 'UTC')::date BETWEEN r.f AND r.t GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`)
	if len(counted) == 0 || !slices.Equal(kept, counted) {
		i := 0
		for i < min(len(kept), len(counted)) && kept[i] == counted[i] {
			i++
		}
		t.Errorf("layerq_growth_in over %d ranges: %d rows, the comparisons %d; first difference at row %d:\n%v\n%v",
			pairs, len(kept), len(counted), i, kept[i:min(i+3, len(kept))], counted[i:min(i+3, len(counted))])
	}
}

// The base panels read what the fold keeps per base (base_dependents);
// they show what the base builds and their live images per repository
// say, summed here from base_builds and base_repositories as the panels
// once did.
func TestBasePanelsAsTheBuildsSay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, admin := seed(t)
	var staleBuild string
	if err := admin.QueryRow(ctx, `SELECT base_digest FROM base_builds WHERE stale ORDER BY base_digest LIMIT 1`).Scan(&staleBuild); err != nil {
		t.Fatalf("no stale base build on the demo (%v); the panels need one", err)
	}
	// A repository of another registry, named as one of the demo's, built
	// on that stale build (its annotation says so).
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	app := image.Manifest{
		Digest: "sha256:" + strings.Repeat("a1", 32), MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 900,
		Kind: image.KindImage, ConfigDigest: "sha256:" + strings.Repeat("c1", 32), ConfigMediaType: "application/vnd.oci.image.config.v1+json", ConfigSize: 400,
		Platform: image.Platform{OS: "linux", Architecture: "amd64"}, Created: &at, BaseDigest: staleBuild,
		Layers: []image.Layer{{Digest: "sha256:" + strings.Repeat("b1", 32), Size: 1234, MediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
			DiffID: "sha256:" + strings.Repeat("d1", 32), ChainID: "sha256:" + strings.Repeat("e1", 32), CreatedBy: "RUN make", Created: &at}},
		History: []image.HistoryEntry{{CreatedBy: "RUN make", Created: &at}},
	}
	store := graph.New(admin)
	if err := store.Ingest(ctx, []image.Observation{{Registry: "mirror.test", Repository: "team-a/api", Tag: "v1", Manifests: []image.Manifest{app},
		ObservedAt: at, Source: "scan"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	var named int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM base_dependents k JOIN repositories r ON r.id = k.repository_id
		WHERE r.registry = 'mirror.test' AND k.stale_images = 1`).Scan(&named); err != nil || named != 1 {
		t.Fatalf("mirror.test/team-a/api on the stale build: %d dependents kept (%v); want 1", named, err)
	}
	fromBuilds := map[string]string{
		"Stale dependents per base/A": `
			SELECT rb.registry, rb.name || CASE WHEN bb.base_tag <> '' THEN ':' || bb.base_tag ELSE '' END AS base,
				CASE WHEN r.registry <> rb.registry THEN r.registry || '/' || r.name ELSE r.name END AS repository, sum(br.images)::bigint AS stale_images, count(DISTINCT bb.base_digest)::bigint AS stale_builds, left(split_part(max(bb.current_digest), ':', 2), 12) AS current_build
			FROM base_builds bb
			JOIN repositories rb ON rb.id = bb.base_repository_id
			JOIN base_repositories br ON br.base_digest = bb.base_digest AND br.images > 0
			JOIN repositories r ON r.id = br.repository_id
			WHERE bb.stale AND rb.registry = ANY (ARRAY[${registry:sqlstring}]::text[])
			GROUP BY rb.registry, base, r.id, r.registry, r.name
			ORDER BY stale_images DESC, base, repository LIMIT 50`,
		"Base lineage/nodes": lineageFromBuilds + `,
			tgt AS (SELECT target AS id, sum(images) AS images, sum(stale_images) AS stale_images FROM e GROUP BY 1),
			src AS (SELECT source AS id, count(*) AS dependents FROM e GROUP BY 1),
			n AS (SELECT id FROM tgt UNION SELECT id FROM src)
			SELECT n.id, substr(n.id, strpos(n.id, '/') + 1) AS title, split_part(n.id, '/', 1) AS subtitle, coalesce(t.images, 0)::bigint AS mainstat, coalesce(s.dependents, 0)::bigint AS secondarystat, coalesce((t.images - t.stale_images)::float8 / nullif(t.images, 0), 1)::float8 AS arc__current, coalesce(t.stale_images::float8 / nullif(t.images, 0), 0)::float8 AS arc__stale
			FROM n
			LEFT JOIN tgt t USING (id)
			LEFT JOIN src s USING (id)
			ORDER BY n.id LIMIT 300`,
		"Base lineage/edges": lineageFromBuilds + `
			SELECT source || ' -> ' || target AS id, source, target, images AS mainstat, builds AS secondarystat, stale_images AS detail__stale_images, CASE WHEN stale_images > 0 THEN 'red' ELSE 'green' END AS color, stale_images > 0 AS highlighted
			FROM e
			ORDER BY images DESC, id LIMIT 500`,
	}
	for _, d := range loadDashboards(t) {
		values := allValues(t, admin, d)
		for _, p := range d.leaves() {
			for _, tg := range p.Targets {
				want, ok := fromBuilds[p.Title+"/"+tg.RefID]
				if !ok {
					continue
				}
				delete(fromBuilds, p.Title+"/"+tg.RefID)
				got, exp := rowsOf(t, admin, expand(t, tg.RawSQL, values)), rowsOf(t, admin, expand(t, want, values))
				if len(exp) == 0 || !slices.Equal(got, exp) {
					t.Errorf("panel %q (%s):\n%s\nfrom the base builds:\n%s", p.Title, tg.RefID, strings.Join(got, "\n"), strings.Join(exp, "\n"))
				}
			}
		}
	}
	if len(fromBuilds) != 0 {
		t.Errorf("no such panels: %v", fromBuilds)
	}
	for _, d := range loadDashboards(t) {
		for _, p := range d.leaves() {
			if p.Title != "Stale dependents per base" {
				continue
			}
			if rows := rowsOf(t, admin, expand(t, p.Targets[0].RawSQL, allValues(t, admin, d))); !slices.ContainsFunc(rows, func(r string) bool {
				return strings.Contains(r, "mirror.test/team-a/api")
			}) {
				t.Errorf("Stale dependents per base does not name mirror.test/team-a/api with its registry:\n%s", strings.Join(rows, "\n"))
			}
		}
	}
}

// dupImages counts images the bloat report lists once per repository that
// image_waste holds once: live manifests in more than one repository.
// On a fresh install every variable is empty: the panels still run.
func TestPanelQueriesOnAnEmptyGraph(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	admin, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	reader, err := pgxpool.New(context.Background(), readerURL(t, admin, dbURL))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	for _, d := range loadDashboards(t) {
		values := map[string][]string{}
		for _, v := range d.Templating.List {
			if res := run(t, reader, expand(t, v.Query, values)); len(res.rows) != 0 {
				t.Errorf("variable %s has values on an empty graph", v.Name)
			}
			values[v.Name] = nil
		}
		sent := sentForAll(d, values) // "All" as Grafana sends it
		for _, p := range d.leaves() {
			for _, tg := range p.Targets {
				if tg.RawSQL != "" {
					run(t, reader, expand(t, tg.RawSQL, values))
					run(t, reader, expand(t, tg.RawSQL, sent))
				}
			}
		}
	}
}

func dupImages(t *testing.T, db *pgxpool.Pool) int {
	t.Helper()
	var n int
	err := db.QueryRow(context.Background(), `SELECT coalesce(sum(c - 1), 0) FROM (
		SELECT count(*) AS c FROM repository_manifests rm JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
		WHERE rm.deleted_at IS NULL GROUP BY rm.manifest_digest) x`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func indexOf(xs []string, s string) int {
	for i, x := range xs {
		if x == s {
			return i
		}
	}
	return -1
}

// checkNodeGraph checks a node graph's frames as Grafana reads them: nodes
// with an id and a title, edges with an id, a source and a target, each
// of which is a node, and arcs of a node that add up to 1.
func checkNodeGraph(t *testing.T, title string, nodes, edges result) {
	t.Helper()
	col := func(r result, name string) int { return indexOf(r.columns, name) }
	if col(nodes, "id") < 0 || col(nodes, "title") < 0 || col(edges, "id") < 0 || col(edges, "source") < 0 || col(edges, "target") < 0 {
		t.Errorf("panel %q: nodes %v, edges %v: want id and title; id, source and target", title, nodes.columns, edges.columns)
		return
	}
	ids := map[string]bool{}
	for _, n := range nodes.rows {
		ids[fmt.Sprint(n[col(nodes, "id")])] = true
		var arcs float64
		for i, c := range nodes.columns {
			if strings.HasPrefix(c, "arc__") {
				arcs += n[i].(float64)
			}
		}
		if arcs < 0.999 || arcs > 1.001 {
			t.Errorf("panel %q: node %v's arcs add up to %v", title, n[col(nodes, "id")], arcs)
		}
	}
	for _, e := range edges.rows {
		if src, dst := fmt.Sprint(e[col(edges, "source")]), fmt.Sprint(e[col(edges, "target")]); !ids[src] || !ids[dst] {
			t.Errorf("panel %q: edge %s -> %s joins a node the nodes frame lacks", title, src, dst)
		}
	}
}

// Grafana pointed at a standby (a read replica, to spare the primary):
// every panel runs there as Grafana's reader role and returns what it
// returns on the primary once the standby has replayed the primary's
// last fold.
func TestPanelQueriesOnAStandby(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pair := pgtest.NewPair(t)
	primary, err := pgxpool.New(ctx, pair.PrimaryURL)
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	if err := demo.Run(ctx, demo.Options{Pool: primary, DataDir: t.TempDir(), Out: io.Discard, ErrOut: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if _, err := graph.New(primary).ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	readerOf := func(url string) *pgxpool.Pool {
		pool, err := pgxpool.New(ctx, readerURL(t, primary, url))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		return pool
	}
	onPrimary, onStandby := readerOf(pair.PrimaryURL), readerOf(pair.StandbyURL)
	// The standby has replayed everything the primary committed (its role
	// too, made last).
	waitFor := func(cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatal("the standby did not catch up within 20 s")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var lsn string
	if err := primary.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	waitFor(func() bool {
		var ok bool
		onStandby.QueryRow(ctx, "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", lsn).Scan(&ok)
		return ok
	})
	queries := 0
	for _, d := range loadDashboards(t) {
		values := allValues(t, onPrimary, d)
		for _, p := range d.leaves() {
			for _, tg := range p.Targets {
				if tg.RawSQL == "" {
					continue
				}
				sql := expand(t, tg.RawSQL, values)
				want, got := run(t, onPrimary, sql), run(t, onStandby, sql)
				if fmt.Sprint(got.rows) != fmt.Sprint(want.rows) {
					t.Errorf("panel %q on the standby: %v, on the primary %v", p.Title, got.rows, want.rows)
				}
				queries++
			}
		}
	}
	if queries < 20 {
		t.Errorf("%d panel queries compared", queries)
	}
}
