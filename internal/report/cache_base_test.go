package report_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
	"github.com/layerq/layerq/internal/walker"
)

// A base of two layers rebuilt (its rootfs the same, its apt-get layer
// new), and images pushed again on the new build: the first layer that
// changed is the base's second, which the image's build cache could never
// have served. The report says the base moved, with the base's advice,
// and keeps a lost cache on an unchanged base apart. A base found only
// after the push is taken into account when it arrives.
func TestCacheBaseMoved(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t)
	pool := pgtest.NewReportPool(t)
	w, err := walker.New(walker.Options{Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	store := graph.New(pool)
	rescan := func() {
		t.Helper()
		if _, err := scan.Run(ctx, store, w, scan.Options{Registry: reg.Host, Name: "reg.test", Repositories: repoglob.Compile("")}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.ApplyAggregates(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rootfs := step("ADD rootfs.tar.xz / # buildkit", "etc/os-release", "bookworm")
	apt := func(build string) sample.Step {
		return step("RUN /bin/sh -c apt-get update && apt-get install -y ca-certificates # buildkit", "etc/ssl/certs/ca.pem", "certs "+build)
	}
	base := func(build string, d int) v1.Image {
		return mustBuild(t, sample.Spec{Created: day(d), Steps: []sample.Step{rootfs, apt(build)}})
	}
	b1, b2, b3 := base("1", 0), base("2", 10), base("3", 20)
	app := func(b v1.Image, extra string, d int) v1.Image {
		return mustBuild(t, sample.Spec{Base: b, Created: day(d), Steps: []sample.Step{
			step("COPY app /app # buildkit", "app/main", "app"),
			step("RUN /bin/sh -c make # buildkit", "app/out", extra),
		}})
	}
	// svc rebuilds on b1 with its install run again: a lost cache.
	svc := func(v string, d int) v1.Image {
		return mustBuild(t, sample.Spec{Base: b1, Created: day(d), Steps: []sample.Step{
			step("RUN /bin/sh -c apt-get install -y curl # buildkit", "usr/bin/curl", "curl "+v),
		}})
	}
	reg.PushImage(t, "lib/deb:12", b1)
	reg.PushImage(t, "team/api:latest", app(b1, "out 1", 1))
	reg.PushImage(t, "team/svc:latest", svc("1", 1))
	reg.PushImage(t, "team/late:latest", app(b1, "late 1", 2))
	rescan()
	reg.PushImage(t, "lib/deb:12", b2)
	reg.PushImage(t, "team/api:latest", app(b2, "out 2", 11))
	reg.PushImage(t, "team/svc:latest", svc("2", 11))
	// late moves to b3, which no repository holds yet: no base is known.
	reg.PushImage(t, "team/late:latest", app(b3, "late 2", 21))
	rescan()

	transition := func(c *report.Cache, repo string) report.Transition {
		t.Helper()
		for _, r := range c.Repositories {
			if r.Repository == repo && len(r.Transitions) == 1 {
				return r.Transitions[0]
			}
		}
		t.Fatalf("no single transition of %s in %+v", repo, c.Repositories)
		return report.Transition{}
	}
	load := func() *report.Cache {
		t.Helper()
		c, err := report.LoadCache(ctx, pool, report.CacheOptions{Busters: 10})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := load()
	api := transition(c, "team/api")
	if !api.BaseMoved || api.FirstChangedPosition == nil || *api.FirstChangedPosition != 1 || api.Base != "lib/deb:12" ||
		api.BaseFrom != digestOf(t, b1) || api.BaseTo != digestOf(t, b2) {
		t.Errorf("team/api: %+v; want the base moved, lib/deb:12 %s → %s, first changed at 1", api, digestOf(t, b1), digestOf(t, b2))
	}
	if s := transitionCell(t, api); s != "base moved: lib/deb:12 "+digestOf(t, b1)[7:19]+" → "+digestOf(t, b2)[7:19] {
		t.Errorf("team/api's first change reads %q", s)
	}
	if svc := transition(c, "team/svc"); svc.BaseMoved || *svc.FirstChangedPosition != 2 {
		t.Errorf("team/svc: %+v; want its own install first changed, the base unmoved", svc)
	}
	if late := transition(c, "team/late"); late.BaseMoved {
		t.Errorf("team/late before its new base is known: %+v", late)
	}
	// The busters: the base's apt-get layer as a base change in api's
	// push; as a step of their own in lib/deb's (the base itself) and in
	// late's (its new base unknown yet); svc's install as a lost cache.
	type key struct {
		step string
		base bool
	}
	busters := map[key]report.CacheBuster{}
	for _, b := range c.Busters {
		busters[key{b.Step, b.BaseChanged}] = b
	}
	aptStep, curl := "RUN apt-get update && apt-get install -y ca-certificates", "RUN apt-get install -y curl"
	const baseAdvice = "the base image changed: expected when the base moves; pin FROM by digest to choose when"
	if b := busters[key{aptStep, true}]; b.Busts != 1 || b.Repositories != 1 || b.Advice != baseAdvice {
		t.Errorf("buster %q as a base change: %+v; want api's, with the base's advice (busters %+v)", aptStep, b, c.Busters)
	}
	if b := busters[key{aptStep, false}]; b.Busts != 2 || b.Repositories != 2 || b.Advice == baseAdvice {
		t.Errorf("buster %q as a step: %+v; want lib/deb's and late's (busters %+v)", aptStep, b, c.Busters)
	}
	if b := busters[key{curl, false}]; b.Busts != 1 || b.Advice == baseAdvice || b.Advice == "" {
		t.Errorf("buster %q: %+v; want a lost cache", curl, b)
	}

	// b3 arrives: late's base is found, and its push becomes a base move,
	// in the transition and in the busters alike.
	reg.PushImage(t, "lib/deb:12", b3)
	rescan()
	c = load()
	if late := transition(c, "team/late"); !late.BaseMoved || late.BaseFrom != digestOf(t, b1) || late.BaseTo != digestOf(t, b3) || late.Base != "lib/deb:12" {
		t.Errorf("team/late once b3 is known: %+v", late)
	}
	// api's and late's base moves; lib/deb's own two pushes.
	for _, since := range []time.Time{{}, day(-1)} { // the rollups, and a --since window counted from the transitions
		c, err := report.LoadCache(ctx, pool, report.CacheOptions{Busters: 10, Since: since})
		if err != nil {
			t.Fatal(err)
		}
		busters = map[key]report.CacheBuster{}
		for _, b := range c.Busters {
			busters[key{b.Step, b.BaseChanged}] = b
		}
		if b := busters[key{aptStep, true}]; b.Busts != 2 || b.Repositories != 2 || b.Advice != baseAdvice {
			t.Errorf("since %v: buster %q as a base change after b3: %+v (busters %+v)", since, aptStep, b, c.Busters)
		}
		if b := busters[key{aptStep, false}]; b.Busts != 2 || b.Repositories != 1 {
			t.Errorf("since %v: buster %q as a step after b3: %+v (busters %+v)", since, aptStep, b, c.Busters)
		}
	}
}

// transitionCell is the FIRST CHANGE cell of a transition's table row.
func transitionCell(t *testing.T, tr report.Transition) string {
	t.Helper()
	c := &report.Cache{Repositories: []report.CacheRepository{{Transitions: []report.Transition{tr}}}}
	rows := c.TableRows()
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	return fmt.Sprint(rows[0][len(rows[0])-1])
}
