package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"
)

// Digests from Harbor's documentation and formatter tests.
const (
	harborD1 = "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4"
	harborD2 = "sha256:dde8e930c7b6a490f728e66292bc9bce42efc9bbb5278bae40e4f30f6e00fe8c"
)

// sha is the payload-digest ID of a canonical JSON text written out by hand.
func sha(canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Harbor Default payloads, shaped as Harbor's notifier model and documentation
// give them (src/pkg/notifier/model/event.go; constructArtifactPayload).
var (
	harborPushTagged = `{
  "type": "PUSH_ARTIFACT",
  "occur_at": 1680502542,
  "operator": "admin",
  "event_data": {
    "resources": [
      {
        "digest": "` + harborD1 + `",
        "tag": "v1",
        "resource_url": "harbor.example.com/library/app:v1"
      }
    ],
    "repository": {
      "date_created": 1680501893,
      "name": "app",
      "namespace": "library",
      "repo_full_name": "library/app",
      "repo_type": "private"
    }
  }
}`
	// The same payload's canonical form: keys sorted, compact.
	harborPushTaggedCanonical = `{"event_data":{"repository":{"date_created":1680501893,"name":"app","namespace":"library","repo_full_name":"library/app","repo_type":"private"},"resources":[{"digest":"` +
		harborD1 + `","resource_url":"harbor.example.com/library/app:v1","tag":"v1"}]},"occur_at":1680502542,"operator":"admin","type":"PUSH_ARTIFACT"}`

	// Pushed by digest: Harbor puts the digest in tag and an @digest URL.
	harborPushUntagged = `{"type":"PUSH_ARTIFACT","occur_at":1680502600,"operator":"robot$ci",` +
		`"event_data":{"resources":[{"digest":"` + harborD1 + `","tag":"` + harborD1 + `","resource_url":"harbor.example.com:8443/team-a/api@` + harborD1 + `"}],` +
		`"repository":{"date_created":1680501893,"name":"api","namespace":"team-a","repo_full_name":"team-a/api","repo_type":"private"}}}`
	harborPushUntaggedCanonical = `{"event_data":{"repository":{"date_created":1680501893,"name":"api","namespace":"team-a","repo_full_name":"team-a/api","repo_type":"private"},"resources":[{"digest":"` +
		harborD1 + `","resource_url":"harbor.example.com:8443/team-a/api@` + harborD1 + `","tag":"` + harborD1 + `"}]},"occur_at":1680502600,"operator":"robot$ci","type":"PUSH_ARTIFACT"}`

	harborDelete = `{"type":"DELETE_ARTIFACT","occur_at":1680503000,"operator":"admin",` +
		`"event_data":{"resources":[{"digest":"` + harborD2 + `","tag":"1.0","resource_url":"harbor.example.com/library/busybox:1.0"}],` +
		`"repository":{"date_created":1677053165,"name":"busybox","namespace":"library","repo_full_name":"library/busybox","repo_type":"public"}}}`
	harborDeleteCanonical = `{"event_data":{"repository":{"date_created":1677053165,"name":"busybox","namespace":"library","repo_full_name":"library/busybox","repo_type":"public"},"resources":[{"digest":"` +
		harborD2 + `","resource_url":"harbor.example.com/library/busybox:1.0","tag":"1.0"}]},"occur_at":1680503000,"operator":"admin","type":"DELETE_ARTIFACT"}`

	harborPull = `{"type":"PULL_ARTIFACT","occur_at":1680503100,"operator":"admin",` +
		`"event_data":{"resources":[{"digest":"` + harborD2 + `","tag":"1.0","resource_url":"harbor.example.com/library/busybox:1.0"}],` +
		`"repository":{"date_created":1677053165,"name":"busybox","namespace":"library","repo_full_name":"library/busybox","repo_type":"public"}}}`

	harborScan = `{"type":"SCANNING_COMPLETED","occur_at":1680503200,"operator":"auto",` +
		`"event_data":{"resources":[{"digest":"` + harborD2 + `","tag":"1.0","resource_url":"harbor.example.com/library/busybox:1.0",` +
		`"scan_overview":{"application/vnd.security.vulnerability.report; version=1.1":{"severity":"High"}}}],` +
		`"repository":{"name":"busybox","namespace":"library","repo_full_name":"library/busybox","repo_type":"public"}}}`

	// Two resources in one payload (Harbor sends one; the decoder does not
	// depend on it).
	harborPushTwo = `{"type":"PUSH_ARTIFACT","occur_at":1680502542,"operator":"admin",` +
		`"event_data":{"resources":[{"digest":"` + harborD1 + `","tag":"v1","resource_url":"harbor.example.com/library/app:v1"},` +
		`{"digest":"` + harborD2 + `","tag":"v2","resource_url":"harbor.example.com/library/app:v2"}],` +
		`"repository":{"name":"app","namespace":"library","repo_full_name":"library/app","repo_type":"private"}}}`

	// Harbor's CloudEvents format (Harbor 2.8+), as its formatter writes it
	// (src/pkg/notifier/formats/cloudevents.go).
	harborCEPush = `{"specversion":"1.0","requestid":"51c0b694-0168-4f3c-b0db-282565455d7b","id":"66e18103-09c1-41f6-982f-37df223f3eeb",` +
		`"source":"/projects/2/webhook/policies/15","type":"harbor.artifact.pushed","datacontenttype":"application/json","time":"2023-04-03T06:04:46Z",` +
		`"data":{"resources":[{"digest":"` + harborD1 + `","tag":"` + harborD1 + `","resource_url":"localhost/harbor/alpine@` + harborD1 + `"}],` +
		`"repository":{"date_created":1680501893,"name":"alpine","namespace":"harbor","repo_full_name":"harbor/alpine","repo_type":"private"}},` +
		`"operator":"harbor-jobservice"}`
	harborCEDelete = `{"specversion":"1.0","requestid":"2eedfab8-61d3-4f3c-8ec3-8f82d1ec4c84","id":"4b2f89a6-548d-4c12-9993-a1f5790b97d2",` +
		`"source":"/projects/1/webhook/policies/3","type":"harbor.artifact.deleted","datacontenttype":"application/json","time":"2023-03-06T06:08:43Z",` +
		`"data":{"resources":[{"digest":"` + harborD2 + `","tag":"v1.0","resource_url":"harbor.dev/library/busybox:v1.0"}],` +
		`"repository":{"date_created":1677053165,"name":"busybox","namespace":"library","repo_full_name":"library/busybox","repo_type":"public"}},` +
		`"operator":"admin"}`
	harborCEPull = `{"specversion":"1.0","requestid":"2eedfab8-61d3-4f3c-8ec3-8f82d1ec4c84","id":"4b2f89a6-548d-4c12-9993-a1f5790b97d2",` +
		`"source":"/projects/1/webhook/policies/3","type":"harbor.artifact.pulled","datacontenttype":"application/json","time":"2023-03-06T06:08:43Z",` +
		`"data":{"resources":[{"digest":"` + harborD2 + `","tag":"` + harborD2 + `","resource_url":"harbor.dev/library/busybox@` + harborD2 + `"}],` +
		`"repository":{"date_created":1677053165,"name":"busybox","namespace":"library","repo_full_name":"library/busybox","repo_type":"public"}},` +
		`"operator":"robot$library+scanner-Trivy-51fe4548-bbe5-11ed-9217-0242ac14000d"}`
	harborCEPushTwo = `{"specversion":"1.0","id":"a1","source":"/projects/1/webhook/policies/3","type":"harbor.artifact.pushed","time":"2023-03-06T06:08:43Z",` +
		`"data":{"resources":[{"digest":"` + harborD1 + `","tag":"v1","resource_url":"harbor.dev/library/app:v1"},` +
		`{"digest":"` + harborD2 + `","tag":"v2","resource_url":"harbor.dev/library/app:v2"}],"repository":{"repo_full_name":"library/app"}}}`
)

func TestDecodeHarbor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		body        string
		contentType string
		want        []Event
		wantIgnored int
	}{
		{
			name: "default push by tag", body: harborPushTagged, contentType: "application/json",
			want: []Event{{ID: sha(harborPushTaggedCanonical), Source: "harbor", Registry: "harbor.example.com",
				Repository: "library/app", Digest: harborD1, Tag: "v1", Action: Push, Time: time.Unix(1680502542, 0).UTC()}},
		},
		{
			name: "default push by digest has no tag", body: harborPushUntagged, contentType: "application/json",
			want: []Event{{ID: sha(harborPushUntaggedCanonical), Source: "harbor", Registry: "harbor.example.com:8443",
				Repository: "team-a/api", Digest: harborD1, Action: Push, Time: time.Unix(1680502600, 0).UTC()}},
		},
		{
			name: "default delete removes the artifact by digest", body: harborDelete, contentType: "application/json; charset=utf-8",
			want: []Event{{ID: sha(harborDeleteCanonical), Source: "harbor", Registry: "harbor.example.com",
				Repository: "library/busybox", Digest: harborD2, Action: Delete, Time: time.Unix(1680503000, 0).UTC()}},
		},
		{name: "default pull is ignored", body: harborPull, contentType: "application/json", wantIgnored: 1},
		{name: "default scan is ignored", body: harborScan, contentType: "application/json", wantIgnored: 1},
		{name: "default quota event without resources is ignored", body: `{"type":"QUOTA_EXCEED","occur_at":1,"operator":"","event_data":{"custom_attributes":{"details":"x"}}}`, wantIgnored: 1},
		{
			name: "cloudevents push by digest", body: harborCEPush, contentType: "application/cloudevents+json",
			want: []Event{{ID: "66e18103-09c1-41f6-982f-37df223f3eeb", Source: "harbor", Registry: "localhost",
				Repository: "harbor/alpine", Digest: harborD1, Action: Push, Time: time.Date(2023, 4, 3, 6, 4, 46, 0, time.UTC)}},
		},
		{
			name: "cloudevents recognised by specversion whatever the content type", body: harborCEPush, contentType: "application/json",
			want: []Event{{ID: "66e18103-09c1-41f6-982f-37df223f3eeb", Source: "harbor", Registry: "localhost",
				Repository: "harbor/alpine", Digest: harborD1, Action: Push, Time: time.Date(2023, 4, 3, 6, 4, 46, 0, time.UTC)}},
		},
		{
			name: "cloudevents delete", body: harborCEDelete, contentType: "application/cloudevents+json",
			want: []Event{{ID: "4b2f89a6-548d-4c12-9993-a1f5790b97d2", Source: "harbor", Registry: "harbor.dev",
				Repository: "library/busybox", Digest: harborD2, Action: Delete, Time: time.Date(2023, 3, 6, 6, 8, 43, 0, time.UTC)}},
		},
		{name: "cloudevents pull is ignored", body: harborCEPull, contentType: "application/cloudevents+json", wantIgnored: 1},
		{
			name: "cloudevents with two resources", body: harborCEPushTwo, contentType: "application/cloudevents+json",
			want: []Event{
				{ID: "a1#0", Source: "harbor", Registry: "harbor.dev", Repository: "library/app", Digest: harborD1, Tag: "v1",
					Action: Push, Time: time.Date(2023, 3, 6, 6, 8, 43, 0, time.UTC)},
				{ID: "a1#1", Source: "harbor", Registry: "harbor.dev", Repository: "library/app", Digest: harborD2, Tag: "v2",
					Action: Push, Time: time.Date(2023, 3, 6, 6, 8, 43, 0, time.UTC)},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := DecodeHarbor([]byte(tc.body), tc.contentType)
			checkResult(t, res, err, tc.want, tc.wantIgnored)
		})
	}
}

// Each resource of a Default payload gets the digest of the payload cut down
// to that resource, so the IDs differ.
func TestHarborTwoResourcesDefault(t *testing.T) {
	t.Parallel()
	res, err := DecodeHarbor([]byte(harborPushTwo), "application/json")
	repo := `"repository":{"name":"app","namespace":"library","repo_full_name":"library/app","repo_type":"private"}`
	at := time.Unix(1680502542, 0).UTC()
	checkResult(t, res, err, []Event{
		{ID: sha(`{"event_data":{` + repo + `,"resources":[{"digest":"` + harborD1 + `","resource_url":"harbor.example.com/library/app:v1","tag":"v1"}]},"occur_at":1680502542,"operator":"admin","type":"PUSH_ARTIFACT"}`),
			Source: "harbor", Registry: "harbor.example.com", Repository: "library/app", Digest: harborD1, Tag: "v1", Action: Push, Time: at},
		{ID: sha(`{"event_data":{` + repo + `,"resources":[{"digest":"` + harborD2 + `","resource_url":"harbor.example.com/library/app:v2","tag":"v2"}]},"occur_at":1680502542,"operator":"admin","type":"PUSH_ARTIFACT"}`),
			Source: "harbor", Registry: "harbor.example.com", Repository: "library/app", Digest: harborD2, Tag: "v2", Action: Push, Time: at},
	}, 0)
}
