package demo_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/layerq/layerq/internal/demo"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The demo as go tool task demo runs it: every reference it pushes arrives
// through the webhooks, its layers are indexed, and the scan after finds
// nothing new.
func TestDemo(t *testing.T) {
	pool := pgtest.NewPool(t)
	var out, errOut bytes.Buffer
	if err := demo.Run(context.Background(), demo.Options{Pool: pool, DataDir: t.TempDir(), Out: &out, ErrOut: &errOut}); err != nil {
		t.Fatalf("%v\n%s%s", err, errOut.String(), out.String())
	}
	pushed := regexp.MustCompile(`(?m)^  (image|index|artifact) +\S+$`).FindAllString(errOut.String(), -1)
	if len(pushed) < 5 || !strings.Contains(out.String(), fmt.Sprintf("all %d references arrived in the graph through webhooks", len(pushed))) ||
		!strings.Contains(out.String(), " 0 manifests, 0 layers, ") {
		t.Fatalf("pushed %d references:\n%s%s", len(pushed), errOut.String(), out.String())
	}

	// Debian's tag moved to 12.8: the alert counts the images whose
	// nearest base is 12.7 (the longest other image whose layers, by
	// diff_id, are the bottom of theirs), and their repositories, worked
	// out from the demo's content.
	items, err := sample.DemoContent()
	if err != nil {
		t.Fatal(err)
	}
	type img struct {
		repo   string
		digest v1.Hash
		chain  []v1.Hash
	}
	var all []img
	for _, it := range items {
		if it.Kind != sample.KindImage {
			continue
		}
		cf, err := it.Image.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		d, _ := it.Image.Digest()
		all = append(all, img{it.Repository, d, cf.RootFS.DiffIDs})
	}
	debian127 := all[0] // pushed first
	images, repos := map[v1.Hash]bool{}, map[string]bool{}
	for _, x := range all {
		var base *img
		for i, b := range all {
			if len(b.chain) < len(x.chain) && slices.Equal(b.chain, x.chain[:len(b.chain)]) && (base == nil || len(b.chain) > len(base.chain)) {
				base = &all[i]
			}
		}
		if base != nil && base.digest == debian127.digest {
			images[x.digest], repos[x.repo] = true, true
		}
	}
	// The SBOM's push also made the referrers tag of its subject
	// (sha256-<hex> of team-a/api:1.0, the registry having no referrers
	// API): the demo waits for it too, or the scan after would find it.
	var subject v1.Hash
	for _, it := range items {
		if it.Repository == "team-a/api" && it.Tag == "1.0" {
			subject, _ = it.Image.Digest()
		}
	}
	made := fmt.Sprintf("(and 1 tag the pushes made besides: team-a/api:sha256-%s)", subject.Hex)
	if subject.Hex == "" || !strings.Contains(out.String(), made) {
		t.Fatalf("want %q in (the test assumes the registry has no referrers API, so that the push makes that tag):\n%s", made, out.String())
	}

	want := fmt.Sprintf("alert on NATS layerq.alerts.base_moved:\n*Base moved:* `library/debian:12` ")
	counts := fmt.Sprintf("%d images in %d repositories still on the old build", len(images), len(repos))
	if len(images) < 3 || !strings.Contains(out.String(), want) || !strings.Contains(out.String(), counts) {
		t.Fatalf("want %q and %q in:\n%s", want, counts, out.String())
	}
}
