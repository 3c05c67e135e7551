package webhook

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Every captured distribution v3.1.2 notification, decoded, with the events
// written out from the fixture's content.
var distributionFixtureCases = []struct {
	name        string
	want        []Event
	wantIgnored int
}{
	{name: "blob-push", wantIgnored: 1},
	{name: "blob-mount", wantIgnored: 1},
	{name: "blob-pull", wantIgnored: 1},
	{name: "manifest-pull", wantIgnored: 1},
	{name: "manifest-push-oci-tagged", want: []Event{{
		ID:         "01a20860-d649-73cb-917e-ab930386ed41",
		Source:     "distribution",
		Registry:   "127.0.0.1:5000",
		Repository: "library/base",
		Digest:     "sha256:89f9b6982b74495e3c9ed65dfaddd1ee31558cc990915e5dae61e49f2df2b38b",
		Tag:        "bookworm",
		MediaType:  "application/vnd.oci.image.manifest.v1+json",
		Action:     Push,
		Time:       time.Date(2026, 11, 23, 12, 28, 13, 769248960, time.UTC),
	}}},
	{name: "manifest-push-oci-untagged", want: []Event{{
		ID:         "01a20861-e7a2-7e7a-a571-dfb51019864a",
		Source:     "distribution",
		Registry:   "127.0.0.1:5000",
		Repository: "ops/multi",
		Digest:     "sha256:a5dfadce357966b8e66ff2681b77093d8bdb1c3c9044dd971c1c0ce8d5f53611",
		MediaType:  "application/vnd.oci.image.manifest.v1+json",
		Action:     Push,
		Time:       time.Date(2026, 11, 23, 12, 29, 23, 746949224, time.UTC),
	}}},
	{name: "manifest-push-docker-v2s2-tagged", want: []Event{{
		ID:         "01a20860-fead-7c47-a662-90d7d6fcde5d",
		Source:     "distribution",
		Registry:   "127.0.0.1:5000",
		Repository: "legacy/storefront",
		Digest:     "sha256:ab0fdc5d854be316bf824594b5ebcc54dacd79d6ae81504134bd7903155fca30",
		Tag:        "1.1",
		MediaType:  "application/vnd.docker.distribution.manifest.v2+json",
		Action:     Push,
		Time:       time.Date(2026, 11, 23, 12, 28, 24, 109805220, time.UTC),
	}}},
	{name: "index-push-tagged", want: []Event{{
		ID:         "01a20861-e7bb-704f-8dc6-b70ccf07a3dd",
		Source:     "distribution",
		Registry:   "127.0.0.1:5000",
		Repository: "ops/multi",
		Digest:     "sha256:9307bc19f6596ad97420475a33015d9e3f3f098094ee31ea50054d6aaf7ab59f",
		Tag:        "1.0",
		MediaType:  "application/vnd.oci.image.index.v1+json",
		Action:     Push,
		Time:       time.Date(2026, 11, 23, 12, 29, 23, 771020757, time.UTC),
	}}},
	{name: "manifest-delete-by-digest", want: []Event{{
		ID:         "01a20861-f4f4-74a0-bf3f-65a9ba5c5b31",
		Source:     "distribution",
		Registry:   "127.0.0.1:5000",
		Repository: "mirror/toolbox",
		Digest:     "sha256:a41bb1de9dab00410e64fe8052685aab9588245ae36540ef3978b63960b158f2",
		Action:     Delete,
		Time:       time.Date(2026, 11, 23, 12, 29, 27, 156303540, time.UTC),
	}}},
	{name: "tag-delete", want: []Event{{
		ID:         "01a20861-f4f6-7456-b103-f7bc4eb87938",
		Source:     "distribution",
		Registry:   "127.0.0.1:5000",
		Repository: "mirror/toolbox",
		Tag:        "1.0",
		Action:     TagDelete,
		Time:       time.Date(2026, 11, 23, 12, 29, 27, 158285183, time.UTC),
	}}},
}

func TestDistributionFixtures(t *testing.T) {
	t.Parallel()
	for _, tc := range distributionFixtureCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := loadFixture(t, tc.name)
			if ct := f.Headers["Content-Type"]; ct != DistributionMediaType {
				t.Errorf("fixture Content-Type = %q, want %q", ct, DistributionMediaType)
			}
			res, err := DecodeDistribution(f.Body)
			checkResult(t, res, err, tc.want, tc.wantIgnored)
		})
	}
}

// Every fixture on disk is in the table above, so a new capture cannot go
// untested.
func TestDistributionFixturesAllCovered(t *testing.T) {
	t.Parallel()
	covered := map[string]bool{}
	for _, tc := range distributionFixtureCases {
		covered[tc.name] = true
	}
	names := fixtureNames(t)
	for _, name := range names {
		if !covered[name] {
			t.Errorf("fixture %s.json has no test case", name)
		}
	}
	if len(names) != len(covered) {
		t.Errorf("%d fixtures on disk, %d test cases", len(names), len(covered))
	}
}

// envelope builds a distribution body from event objects.
func envelope(events ...string) []byte {
	return []byte(`{"events":[` + strings.Join(events, ",") + `]}`)
}

// fixtureEvents returns the event objects of fixtures, in order.
func fixtureEvents(t *testing.T, names ...string) []string {
	t.Helper()
	var out []string
	for _, name := range names {
		var env struct {
			Events []json.RawMessage `json:"events"`
		}
		if err := json.Unmarshal(loadFixture(t, name).Body, &env); err != nil {
			t.Fatal(err)
		}
		for _, e := range env.Events {
			out = append(out, string(e))
		}
	}
	return out
}

func wantFixture(t *testing.T, name string) Event {
	t.Helper()
	for _, tc := range distributionFixtureCases {
		if tc.name == name {
			return tc.want[0]
		}
	}
	t.Fatalf("no case %s", name)
	return Event{}
}

func TestDistributionMixedBody(t *testing.T) {
	t.Parallel()
	body := envelope(fixtureEvents(t,
		"blob-push", "blob-mount", "manifest-push-oci-tagged", "blob-pull",
		"manifest-delete-by-digest", "tag-delete", "manifest-pull")...)
	res, err := DecodeDistribution(body)
	checkResult(t, res, err, []Event{
		wantFixture(t, "manifest-push-oci-tagged"),
		wantFixture(t, "manifest-delete-by-digest"),
		wantFixture(t, "tag-delete"),
	}, 4)
}

// One invalid event that needs work is rejected alone: the valid ones next
// to it are used, and its body decodes to it alone.
func TestDistributionBadEventAmongGood(t *testing.T) {
	t.Parallel()
	evs := fixtureEvents(t, "manifest-push-oci-tagged", "blob-push", "manifest-push-oci-untagged", "tag-delete")
	evs[2] = strings.Replace(evs[2], `"repository": "ops/multi"`, `"repository": "Ops/Multi"`, 1)
	res, err := DecodeDistribution(envelope(evs...))
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{wantFixture(t, "manifest-push-oci-tagged"), wantFixture(t, "tag-delete")}
	if dump(res.Events) != dump(want) || res.Ignored != 1 {
		t.Errorf("used %s, ignored %d; want %s and 1", dump(res.Events), res.Ignored, dump(want))
	}
	if len(res.Rejected) != 1 {
		t.Fatalf("rejected %d events, want 1", len(res.Rejected))
	}
	r := res.Rejected[0]
	if want := `distribution: event 2 (push): invalid repository name "Ops/Multi"`; r.Reason != want {
		t.Errorf("reason %q, want %q", r.Reason, want)
	}
	again, err := DecodeDistribution(r.Body)
	if err != nil || len(again.Events) != 0 || len(again.Rejected) != 1 {
		t.Fatalf("the rejected body decodes to %+v, %v; want that event rejected alone", again, err)
	}
	if want := `distribution: event 0 (push): invalid repository name "Ops/Multi"`; again.Rejected[0].Reason != want {
		t.Errorf("decoded again: reason %q, want %q", again.Rejected[0].Reason, want)
	}
	// Fixed, it is the event the registry meant.
	fixed := strings.Replace(string(r.Body), `"Ops/Multi"`, `"ops/multi"`, 1)
	res, err = DecodeDistribution([]byte(fixed))
	checkResult(t, res, err, []Event{wantFixture(t, "manifest-push-oci-untagged")}, 0)
}

func TestDistributionVariants(t *testing.T) {
	t.Parallel()
	const (
		dg = "sha256:89f9b6982b74495e3c9ed65dfaddd1ee31558cc990915e5dae61e49f2df2b38b"
		ts = `"timestamp":"2026-11-23T12:28:13.76924896Z"`
	)
	at := time.Date(2026, 11, 23, 12, 28, 13, 769248960, time.UTC)
	cases := []struct {
		name        string
		event       string
		want        []Event
		wantIgnored int
	}{
		{
			name: "registry from target url without request host",
			event: `{"id":"e1",` + ts + `,"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + dg +
				`","repository":"library/base","url":"https://registry.example.com:5443/v2/library/base/manifests/` + dg + `","tag":"v1"},"request":{}}`,
			want: []Event{{ID: "e1", Source: "distribution", Registry: "registry.example.com:5443", Repository: "library/base",
				Digest: dg, Tag: "v1", MediaType: "application/vnd.oci.image.manifest.v1+json", Action: Push, Time: at}},
		},
		{
			name: "manifest push without url, known by media type",
			event: `{"id":"e2",` + ts + `,"action":"push","target":{"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","digest":"` + dg +
				`","repository":"library/base"},"request":{"host":"reg.local"}}`,
			want: []Event{{ID: "e2", Source: "distribution", Registry: "reg.local", Repository: "library/base",
				Digest: dg, MediaType: "application/vnd.docker.distribution.manifest.list.v2+json", Action: Push, Time: at}},
		},
		{
			name: "timestamp with offset becomes UTC",
			event: `{"id":"e3","timestamp":"2026-11-23T13:28:13.76924896+01:00","action":"delete","target":{"digest":"` + dg +
				`","repository":"library/base"},"request":{"host":"reg.local"}}`,
			want: []Event{{ID: "e3", Source: "distribution", Registry: "reg.local", Repository: "library/base",
				Digest: dg, Action: Delete, Time: at}},
		},
		{
			name:        "repository delete (no digest, no tag) is ignored",
			event:       `{"id":"e4",` + ts + `,"action":"delete","target":{"repository":"library/base"},"request":{"host":"reg.local"}}`,
			wantIgnored: 1,
		},
		{
			name:        "unknown action is ignored",
			event:       `{"id":"e5",` + ts + `,"action":"replicate","target":{"repository":"library/base"}}`,
			wantIgnored: 1,
		},
		{
			name:        "config blob push without url is ignored",
			event:       `{"id":"e6",` + ts + `,"action":"push","target":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + dg + `","repository":"library/base"}}`,
			wantIgnored: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := DecodeDistribution(envelope(tc.event))
			checkResult(t, res, err, tc.want, tc.wantIgnored)
		})
	}
}

func TestDistributionEmptyEvents(t *testing.T) {
	t.Parallel()
	res, err := DecodeDistribution([]byte(`{"events":[]}`))
	checkResult(t, res, err, nil, 0)
}
