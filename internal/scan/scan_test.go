package scan_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/testenv/otlptest"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
	"github.com/layerq/layerq/internal/walker"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func build(t testing.TB, base v1.Image, steps ...string) v1.Image {
	t.Helper()
	s := sample.Spec{Base: base, Format: sample.OCI}
	for _, st := range steps {
		s.Steps = append(s.Steps, sample.Step{CreatedBy: "RUN " + st, Files: []sample.File{{Path: "f/" + st, Content: sample.Text(st, 2000)}}})
	}
	img, err := sample.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func newWalker(t testing.TB) *walker.Walker {
	w, err := walker.New(walker.Options{Jobs: 8})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func scalar(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// recorder is a Progress that remembers what it heard.
type recorder struct {
	repos    []scan.RepositoryResult
	failures []graph.Failure
	onRepo   func(n int)
}

func (r *recorder) Start(int, bool) {}
func (r *recorder) Repository(res scan.RepositoryResult) {
	r.repos = append(r.repos, res)
	if r.onRepo != nil {
		r.onRepo(len(r.repos))
	}
}
func (r *recorder) Failure(f graph.Failure) { r.failures = append(r.failures, f) }

func TestScanCorpus(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	pool := pgtest.NewPool(t)
	ctx := context.Background()

	base := build(t, nil, "base-rootfs")
	api := build(t, base, "api")
	worker := build(t, base, "worker")
	reg.PushImage(t, "library/base:1", base)
	reg.PushImage(t, "team/api:1", api)
	reg.PushImage(t, "team/api:latest", api)
	reg.PushImage(t, "team/worker:1", worker)
	reg.PutManifest(t, "old/app", "v1", "application/vnd.docker.distribution.manifest.v1+prettyjws",
		[]byte(`{"schemaVersion":1,"name":"old/app","tag":"v1","fsLayers":[],"history":[]}`))
	reg.PushImage(t, "old/app:v2", worker)

	rec := &recorder{}
	tel := otlptest.NewRecorder()
	sum, err := scan.Run(ctx, graph.New(pool), newWalker(t), scan.Options{Registry: reg.Host, Repositories: repoglob.Compile(""), Progress: rec, Telemetry: tel.Providers})
	if err != nil {
		t.Fatal(err)
	}
	// Progress as metrics: 4 of 4 repositories; 5 tags walked, 1 failed.
	for _, c := range []struct {
		name  string
		attrs []string
		want  float64
	}{
		{"layerq.scan.repositories", []string{"registry", reg.Host}, 4},
		{"layerq.scan.repositories.done", []string{"registry", reg.Host}, 4},
		{"layerq.scan.references", []string{"registry", reg.Host, "result", "walked"}, 5},
		{"layerq.scan.references", []string{"result", "failed"}, 1},
		{"layerq.scan.references", []string{"result", "unchanged"}, 0},
	} {
		if v := tel.Value(t, c.name, c.attrs...); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.attrs, v, c.want)
		}
	}
	if spans := tel.Spans(); len(spans) != 1 || spans[0].Name() != "scan registry" {
		t.Errorf("spans = %v, want one scan registry span", spans)
	}
	// 4 repositories, 6 tags; manifests base api worker; layers base-rootfs api worker.
	if sum.Repositories != 4 || sum.Tags != 6 || sum.Manifests != 3 || sum.Layers != 3 || sum.Errors != 1 || sum.Unchanged != 0 {
		t.Fatalf("summary = %s", sum)
	}
	if len(rec.failures) != 1 || rec.failures[0].Class != "unsupported" || rec.failures[0].Reference != "v1" {
		t.Fatalf("failures = %+v", rec.failures)
	}
	if n := scalar(t, pool, `SELECT count(*) FROM ingest_failures WHERE repository = 'old/app' AND reference = 'v1' AND reason LIKE '%schema 1%'`); n != 1 {
		t.Fatalf("recorded failures = %d", n)
	}
	if n := scalar(t, pool, `SELECT count(*) FROM tags WHERE deleted_at IS NULL`); n != 5 {
		t.Fatalf("live tags = %d, want 5 (all but the schema 1 one)", n)
	}
	if n := scalar(t, pool, `SELECT count(*) FROM repository_manifests`); n != 4 {
		t.Fatalf("memberships = %d, want 4", n)
	}
	if !strings.HasPrefix(sum.String(), "scanned "+reg.Host+": 4 repositories, 6 tags, 3 manifests, 3 layers, 0 unchanged, 0 tags deleted, 1 error in ") {
		t.Fatalf("summary line = %q", sum.String())
	}

	// Second scan: nothing new is fetched, only HEADs; one tag deleted in
	// the registry meanwhile is marked deleted.
	req, _ := http.NewRequest(http.MethodDelete, "http://"+reg.Host+"/v2/team/api/manifests/latest", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	before := len(reg.Requests())
	sum, err = scan.Run(ctx, graph.New(pool), newWalker(t), scan.Options{Registry: reg.Host, Repositories: repoglob.Compile("")})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Manifests != 0 || sum.Unchanged != 4 || sum.DeletedTags != 1 || sum.Errors != 1 || sum.Resumed {
		t.Fatalf("second summary = %s", sum)
	}
	for _, r := range reg.Requests()[before:] {
		if strings.HasPrefix(r, "GET") && strings.Contains(r, "/manifests/") && !strings.Contains(r, "old/app") {
			t.Errorf("second scan fetched %s", r)
		}
	}
	if n := scalar(t, pool, `SELECT count(*) FROM tag_events WHERE action = 'delete' AND tag = 'latest'`); n != 1 {
		t.Fatalf("delete events = %d", n)
	}
	// The failing reference is still failing: counted again, one row.
	if n := scalar(t, pool, `SELECT attempts FROM ingest_failures WHERE repository = 'old/app'`); n != 2 {
		t.Fatalf("attempts = %d, want 2", n)
	}
}

func TestScanGlob(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	pool := pgtest.NewPool(t)
	img := build(t, nil, "x")
	for _, r := range []string{"team-a/api", "team-a/api/v2", "team-b/web", "library/base"} {
		reg.PushImage(t, r+":1", img)
	}
	sum, err := scan.Run(context.Background(), graph.New(pool), newWalker(t), scan.Options{Registry: reg.Host, Repositories: repoglob.Compile("team-a/*")})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Repositories != 1 {
		t.Fatalf("summary = %s", sum)
	}
	if n := scalar(t, pool, `SELECT count(*) FROM repositories WHERE name = 'team-a/api'`); n != 1 {
		t.Fatalf("repositories = %d", n)
	}
}

func TestScanResumesAfterInterruption(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	pool := pgtest.NewPool(t)
	img := build(t, nil, "x")
	for i := range 6 {
		reg.PushImage(t, fmt.Sprintf("repo-%d:1", i), img)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rec := &recorder{onRepo: func(n int) {
		if n == 2 {
			cancel()
		}
	}}
	_, err := scan.Run(ctx, graph.New(pool), newWalker(t), scan.Options{Registry: reg.Host, Repositories: repoglob.Compile(""), Jobs: 1, Progress: rec})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted scan: %v", err)
	}
	done := scalar(t, pool, `SELECT count(*) FROM scan_repositories`)
	if done < 2 || done >= 6 {
		t.Fatalf("repositories done before the interruption = %d", done)
	}
	sum, err := scan.Run(context.Background(), graph.New(pool), newWalker(t), scan.Options{Registry: reg.Host, Repositories: repoglob.Compile("")})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Resumed || sum.Skipped != done || sum.Repositories != 6-done {
		t.Fatalf("resumed summary = %s (done before: %d)", sum, done)
	}
	if n := scalar(t, pool, `SELECT count(*) FROM tags`); n != 6 {
		t.Fatalf("tags = %d", n)
	}
	// Finished: the next scan starts afresh.
	sum, err = scan.Run(context.Background(), graph.New(pool), newWalker(t), scan.Options{Registry: reg.Host, Repositories: repoglob.Compile("")})
	if err != nil || sum.Resumed || sum.Repositories != 6 || sum.Unchanged != 6 {
		t.Fatalf("next scan = %s, %v", sum, err)
	}
}

// The CNCF distribution registry pages its catalog with Link headers; 260
// repositories take three pages of 100, and a repository with 230 tags takes
// three pages of tags.
func TestScanPaginatesDistribution(t *testing.T) {
	t.Parallel()
	reg := registrytest.NewDistribution(t, registrytest.DistributionOptions{})
	pool := pgtest.NewPool(t)
	img := build(t, nil, "shared")
	for i := range 260 {
		if err := remote.Write(reg.Ref(t, fmt.Sprintf("ns-%d/repo-%03d:v1", i%7, i)), img); err != nil {
			t.Fatal(err)
		}
	}
	desc, err := remote.Get(reg.Ref(t, "ns-0/repo-000:v1"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 229 {
		if err := remote.Tag(reg.Ref(t, "ns-0/repo-000:v1").Context().Tag(fmt.Sprintf("t%03d", i)), desc); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := scan.Run(context.Background(), graph.New(pool), newWalker(t), scan.Options{Registry: reg.Host, Repositories: repoglob.Compile("")})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Repositories != 260 || sum.Tags != 260+229 || sum.Manifests != 1 || sum.Errors != 0 {
		t.Fatalf("summary = %s", sum)
	}
	if n := scalar(t, pool, `SELECT count(*) FROM repositories`); n != 260 {
		t.Fatalf("repositories = %d", n)
	}
	if n := scalar(t, pool, `SELECT count(*) FROM tags`); n != 489 {
		t.Fatalf("tags = %d", n)
	}
	var catalogPages, tagPages int
	for _, r := range reg.Requests() {
		switch {
		case strings.HasPrefix(r, "GET /v2/_catalog"):
			catalogPages++
		case strings.HasPrefix(r, "GET /v2/ns-0/repo-000/tags/list"):
			tagPages++
		}
	}
	if catalogPages != 3 || tagPages != 3 {
		t.Fatalf("catalog pages = %d, tag pages of repo-000 = %d; want 3 and 3", catalogPages, tagPages)
	}
}

// What the registry lost without telling (webhooks dropped) is healed: a
// repository gone from the catalog, a manifest deleted by digest. A name
// the registry lists but layerq cannot parse is a failure, not a stop.
func TestScanReconcilesDeletions(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	base := build(t, nil, "base")
	v1 := build(t, base, "v1")
	v2 := build(t, base, "v2")
	reg.PushImage(t, "team/app:latest", v1)
	d2 := reg.PushImage(t, "team/app:v2", v2)
	reg.PushImage(t, "team/old:1", base)
	raw, _ := base.RawManifest()
	mt, _ := base.MediaType()
	reg.PutManifest(t, "Team/Bad", "1", string(mt), raw) // the in-process registry takes any name
	opts := scan.Options{Registry: reg.Host, Repositories: repoglob.Compile("")}
	rec := &recorder{}
	opts.Progress = rec
	sum, err := scan.Run(ctx, graph.New(pool), newWalker(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Repositories != 3 || sum.Errors != 1 || len(rec.failures) != 1 || rec.failures[0].Repository != "Team/Bad" || rec.failures[0].Class != "invalid" {
		t.Fatalf("first scan: %s, failures %+v", sum, rec.failures)
	}
	// Meanwhile: latest moves to v2 (v1 stays, untagged), v1 is then deleted
	// by digest, the tag v2 is deleted but its manifest stays, and team/old
	// goes from the catalog (as after a registry garbage collection).
	reg.PushImage(t, "team/app:latest", v2)
	d1, _ := v1.Digest()
	for _, path := range []string{"/v2/team/app/manifests/" + d1.String(), "/v2/team/app/manifests/v2"} {
		req, _ := http.NewRequest(http.MethodDelete, "http://"+reg.Host+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/v2/_catalog" {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"repositories":["team/app","Team/Bad"]}`))
		return true
	})
	sum, err = scan.Run(ctx, graph.New(pool), newWalker(t), scan.Options{Registry: reg.Host, Repositories: repoglob.Compile("")})
	if err != nil {
		t.Fatal(err)
	}
	st, err := graph.New(pool).Repository(ctx, reg.Host, "team/app")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Tags) != 1 || st.Tags["latest"] != d2 || len(st.Manifests) != 1 || !st.Manifests[d2] {
		t.Fatalf("team/app after reconcile: %+v (v1 %s, v2 %s); summary %s", st, d1, d2, sum)
	}
	if sum.GoneManifests != 1 || sum.DeletedTags != 1 {
		t.Fatalf("summary = %s", sum)
	}
	old, _ := graph.New(pool).Repository(ctx, reg.Host, "team/old")
	if len(old.Tags) != 0 || len(old.Manifests) != 0 || sum.GoneRepositories != 1 {
		t.Fatalf("team/old = %+v, summary %s", old, sum)
	}
	if n := scalar(t, pool, `SELECT count(*) FROM tag_events WHERE action = 'delete'`); n != 2 {
		t.Fatalf("delete events = %d, want 2 (v2, and team/old:1)", n)
	}
	if !strings.Contains(sum.String(), "1 tag deleted, 1 repository and 1 manifest gone, 1 error") {
		t.Fatalf("summary line = %q", sum)
	}
}
