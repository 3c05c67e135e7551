package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// realFormatsDir holds webhook payloads in the formats Harbor, Docker Hub and
// zot send; its README.md says where each comes from and what layerq does
// with it.
const realFormatsDir = "testdata/real-formats"

// realFormatsDocs are the files of realFormatsDir that are not payloads.
var realFormatsDocs = []string{"README.md"}

// realFormatCase is one decoding of a file of realFormatsDir.
type realFormatCase struct {
	// file is the body.
	file string
	// source is the decoder, as Decode names it.
	source string
	// headers is the file of the HTTP headers sent with the body, one
	// "Name: value" a line (zot's binary mode); contentType, when set, is
	// the Content-Type of a body sent without such a file.
	headers, contentType string

	want    []Event
	ignored int
	// reason, when set, is the one-line reason of the *DecodeError the body
	// is refused with.
	reason string
}

// Digests and times the fixtures carry.
const (
	harborAlpineD  = "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4"
	harborAlpine38 = "sha256:2bb501e6173d9d006e56de5bce2720eb06396803300fe1687b58a7ff32bf4c14"
	harborDebianD  = "sha256:8a9e9863dbb6e10edb5adfe917c00da84e1700fa76e7ed02476aa6e6fb8ee0d8"
	zotManifestD   = "sha256:6e53d69e24995dcff97ef3798aa2daa652b3581d586a7175cfcd4213f52f2fd8"
	zotIndexD      = "sha256:33807c5b316f5357420dee212c9ba64671cd171acfaca5c6190a9485c5e8c9ae"
	ociManifest    = "application/vnd.oci.image.manifest.v1+json"
	ociIndex       = "application/vnd.oci.image.index.v1+json"
)

// zotAt is a time of the zot captures, 2026-12-03T17:46:40.<ns>Z.
func zotAt(ns int) time.Time { return time.Date(2026, 12, 3, 17, 46, 40, ns, time.UTC) }

// realFormatCases lists every file of realFormatsDir (TestRealFormatsListed
// checks that), with what its README says layerq does with it.
var realFormatCases = []realFormatCase{
	// Harbor pulls, from Harbor's formatter tests: ignored.
	{file: "harbor-code-ce-pull.json", source: SourceHarbor, contentType: CloudEventsMediaType, ignored: 1},
	{file: "harbor-code-default-pull-comment.json", source: SourceHarbor, contentType: "application/json", ignored: 1},
	{file: "harbor-code-default-pull.json", source: SourceHarbor, contentType: "application/json", ignored: 1},

	// Harbor's documentation, Default format: push and delete publish,
	// the rest is ignored. The Default format has no event id.
	{file: "harbor-docs-default-push.json", source: SourceHarbor, contentType: "application/json", want: []Event{{
		ID: "sha256:27826639f4670dde16f143d6276ea2609cb2d2e74b9e011e72bf68066575bd44", Source: SourceHarbor, Registry: "localhost",
		Repository: "harbor/alpine", Digest: harborAlpineD, Action: Push, Time: time.Unix(1680501893, 0).UTC(),
	}}},
	{file: "harbor-docs-default-delete.json", source: SourceHarbor, contentType: "application/json", want: []Event{{
		ID: "sha256:26285d7b24c1d5cbf954d39fdd0879ef4f8f17fe14771bbaf780154ba62a64d9", Source: SourceHarbor, Registry: "localhost",
		Repository: "harbor/alpine", Digest: harborAlpine38, Action: Delete, Time: time.Unix(1680502598, 0).UTC(),
	}}},
	{file: "harbor-docs-default-pull.json", source: SourceHarbor, contentType: "application/json", ignored: 1},
	{file: "harbor-docs-default-quota-exceed.json", source: SourceHarbor, contentType: "application/json", ignored: 1},
	{file: "harbor-docs-default-quota-warning.json", source: SourceHarbor, contentType: "application/json", ignored: 1},
	{file: "harbor-docs-default-replication.json", source: SourceHarbor, contentType: "application/json", ignored: 1},
	{file: "harbor-docs-default-scan-completed.json", source: SourceHarbor, contentType: "application/json", ignored: 1},
	{file: "harbor-docs-default-scan-failed.json", source: SourceHarbor, contentType: "application/json", ignored: 1},
	{file: "harbor-docs-default-scan-stopped.json", source: SourceHarbor, contentType: "application/json", ignored: 1},
	{file: "harbor-docs-default-tag-retention.json", source: SourceHarbor, contentType: "application/json", ignored: 1},
	{file: "harbor-docs20-default-push-tagged.json", source: SourceHarbor, contentType: "application/json", want: []Event{{
		ID: "sha256:2e8b8012ed22ff2704b71b3afa62059b48b9cacc47e0e2d90bd44e1f4770f18c", Source: SourceHarbor, Registry: "hub.harbor.com",
		Repository: "test-webhook/debian", Digest: harborDebianD, Tag: "latest", Action: Push, Time: time.Unix(1586922308, 0).UTC(),
	}}},
	{file: "harbor-reconstructed-port-host.json", source: SourceHarbor, contentType: "application/json", want: []Event{{
		ID: "sha256:5d07788b60514f75a690ce04b83ce61c3d3501d9ec6ece9a7d4a8486db445f05", Source: SourceHarbor, Registry: "harbor.example.com:8443",
		Repository: "library/alpine", Digest: harborAlpineD, Tag: "3.19", Action: Push, Time: time.Unix(1680501893, 0).UTC(),
	}}},

	// Harbor's documentation, CloudEvents format. Its push and pull
	// examples are not JSON as printed (comments; a missing comma).
	{file: "harbor-docs-ce-delete.json", source: SourceHarbor, contentType: CloudEventsMediaType, want: []Event{{
		ID: "343f1623-7cba-487c-88f1-c5ebf55e93aa", Source: SourceHarbor, Registry: "localhost",
		Repository: "harbor/alpine", Digest: harborAlpine38, Action: Delete, Time: time.Date(2023, 4, 3, 6, 16, 38, 0, time.UTC),
	}}},
	{file: "harbor-docs-ce-push.json", source: SourceHarbor, contentType: CloudEventsMediaType,
		reason: "harbor: malformed JSON at offset 29: invalid character '/' looking for beginning of object key string"},
	{file: "harbor-docs-ce-pull.json", source: SourceHarbor, contentType: CloudEventsMediaType,
		reason: `harbor: malformed JSON at offset 131: invalid character '"' after object key:value pair`},
	{file: "harbor-docs-ce-quota-exceed.json", source: SourceHarbor, contentType: CloudEventsMediaType, ignored: 1},
	{file: "harbor-docs-ce-quota-warning.json", source: SourceHarbor, contentType: CloudEventsMediaType, ignored: 1},
	{file: "harbor-docs-ce-replication.json", source: SourceHarbor, contentType: CloudEventsMediaType, ignored: 1},
	{file: "harbor-docs-ce-scan-completed.json", source: SourceHarbor, contentType: CloudEventsMediaType, ignored: 1},
	{file: "harbor-docs-ce-scan-failed.json", source: SourceHarbor, contentType: CloudEventsMediaType, ignored: 1},
	{file: "harbor-docs-ce-scan-stopped.json", source: SourceHarbor, contentType: CloudEventsMediaType, ignored: 1},
	{file: "harbor-docs-ce-tag-retention.json", source: SourceHarbor, contentType: CloudEventsMediaType, ignored: 1},

	// Built with the CloudEvents SDK Harbor uses.
	{file: "harbor-sdk-ce-push-tagged.json", source: SourceHarbor, contentType: CloudEventsMediaType, want: []Event{{
		ID: "d15fb265-82df-4d34-92d4-4bc91ddf0ab1", Source: SourceHarbor, Registry: "hub.harbor.com",
		Repository: "test-webhook/debian", Digest: harborDebianD, Tag: "latest", Action: Push, Time: time.Date(2020, 4, 15, 3, 45, 8, 0, time.UTC),
	}}},
	{file: "harbor-sdk-ce-push-noreqid.json", source: SourceHarbor, contentType: CloudEventsMediaType, want: []Event{{
		ID: "a4ae158c-6aa7-45f9-a85a-bd9ed540059a", Source: SourceHarbor, Registry: "localhost",
		Repository: "harbor/alpine", Digest: harborAlpineD, Action: Push, Time: time.Date(2023, 4, 3, 6, 4, 53, 0, time.UTC),
	}}},
	{file: "harbor-sdk-ce-delete.json", source: SourceHarbor, contentType: CloudEventsMediaType, want: []Event{{
		ID: "18e93489-9b38-4a3d-a6c9-91d8efbecf64", Source: SourceHarbor, Registry: "localhost",
		Repository: "harbor/alpine", Digest: harborAlpine38, Action: Delete, Time: time.Date(2023, 4, 3, 6, 16, 38, 0, time.UTC),
	}}},

	// Harbor 1.x: refused, saying so.
	{file: "harbor-docs110-pushImage.json", source: SourceHarbor, contentType: "application/json",
		reason: `harbor: Harbor 1.x payload (event_type "pushImage") is not supported; upgrade to Harbor 2.x`},
	{file: "harbor-v1.10-struct-pushImage.json", source: SourceHarbor, contentType: "application/json",
		reason: `harbor: Harbor 1.x payload (type "pushImage") is not supported; upgrade to Harbor 2.x`},

	// Docker Hub's documentation, current and old (pushed_at a float).
	// No event id: TestRealFormatsRepost checks a repost is a duplicate.
	{file: "dockerhub-docs-current.json", source: SourceDockerHub, want: []Event{{
		ID: "sha256:c8803ca09d7a0d56a6cda009a58d26a724cb979d887b705d69f66e04baf68979", Source: SourceDockerHub, Registry: DockerHubRegistry,
		Repository: "svendowideit/testhook", Tag: "latest", Action: Push, Time: time.Unix(1417566161, 0).UTC(),
	}}},
	{file: "dockerhub-docs-old.json", source: SourceDockerHub, want: []Event{{
		ID: "sha256:e37a2554e337782ea2eceaec8e026ee9b0831fecb5eed7c7ae601757c6469be0", Source: SourceDockerHub, Registry: DockerHubRegistry,
		Repository: "svendowideit/testhook", Tag: "latest", Action: Push, Time: time.Unix(1417566161, 0).UTC(),
	}}},

	// zot, binary mode, as its HTTP sink sends it. image.updated publishes.
	{file: "zot-image-updated-tag.body", headers: "zot-image-updated-tag.headers", source: SourceCloudEvents, want: []Event{{
		ID: "d0198ccf-abfc-4570-a5c3-86049a49f298", Source: SourceCloudEvents, Registry: "zotregistry.dev",
		Repository: "golang", Digest: zotManifestD, Tag: "1.20", MediaType: ociManifest, Action: Push, Time: zotAt(939353281),
	}}},
	{file: "zot-image-updated-bydigest.body", headers: "zot-image-updated-bydigest.headers", source: SourceCloudEvents, want: []Event{{
		ID: "93d9e35c-49de-437d-8b9c-20f1490c18a0", Source: SourceCloudEvents, Registry: "zotregistry.dev",
		Repository: "golang", Digest: zotManifestD, MediaType: ociManifest, Action: Push, Time: zotAt(941918888),
	}}},
	{file: "zot-image-updated-index.body", headers: "zot-image-updated-index.headers", source: SourceCloudEvents, want: []Event{{
		ID: "b786e5c2-4c5c-46e3-99a3-d4f88e1f5cdd", Source: SourceCloudEvents, Registry: "zotregistry.dev",
		Repository: "golang", Digest: zotIndexD, Tag: "latest", MediaType: ociIndex, Action: Push, Time: zotAt(945039693),
	}}},
	{file: "zot-image-updated-nested-docker.body", headers: "zot-image-updated-nested-docker.headers", source: SourceCloudEvents, want: []Event{{
		ID: "26bff7fc-d811-4c44-b868-a1f5ee85dbe1", Source: SourceCloudEvents, Registry: "zotregistry.dev",
		Repository: "space/my-image", Digest: "sha256:d61b48cf0ddeb739b32ed063c14082428f95949171a516c3f7bab38247ae93a7", Tag: "latest",
		MediaType: "application/vnd.docker.distribution.manifest.v2+json", Action: Push, Time: zotAt(946977393),
	}}},
	{file: "zot-image-updated-channel.body", headers: "zot-image-updated-channel.headers", source: SourceCloudEvents, want: []Event{{
		ID: "a54f028b-071c-401c-9c84-bc606010547a", Source: SourceCloudEvents, Registry: "zotregistry.dev",
		Repository: "golang", Digest: zotManifestD, Tag: "1.21", MediaType: ociManifest, Action: Push, Time: zotAt(954061406),
	}}},
	// A zot configured with its own event source (a URL) and type prefix.
	{file: "zot-custom-identity-updated.body", headers: "zot-custom-identity-updated.headers", source: SourceCloudEvents, want: []Event{{
		ID: "49e5a65d-d524-4245-85b3-80eeefcfcf78", Source: SourceCloudEvents, Registry: "registry.example.com",
		Repository: "space/my-image", Digest: zotManifestD, Tag: "v2", MediaType: ociManifest, Action: Push, Time: zotAt(955755796),
	}}},

	// image.deleted by digest deletes the manifest; by tag it deletes the
	// tag, with the digest the tag named: zot deletes the manifest too when
	// that was its last tag, and the worker asks the registry whether it
	// still has that digest.
	{file: "zot-image-deleted-bydigest.body", headers: "zot-image-deleted-bydigest.headers", source: SourceCloudEvents, want: []Event{{
		ID: "3edc7e5d-ad1e-4cd8-a66e-77bcf0c960ea", Source: SourceCloudEvents, Registry: "zotregistry.dev",
		Repository: "golang", Digest: zotManifestD, MediaType: ociManifest, Action: Delete, Time: zotAt(949588636),
	}}},
	{file: "zot-image-deleted-tag.body", headers: "zot-image-deleted-tag.headers", source: SourceCloudEvents, want: []Event{{
		ID: "337d8c79-ea1c-4702-97c7-369dcf647ab9", Source: SourceCloudEvents, Registry: "zotregistry.dev",
		Repository: "golang", Digest: zotIndexD, Tag: "latest", MediaType: ociIndex, Action: TagDelete, Time: zotAt(948084795),
	}}},
	// The last tag of a manifest deleted: a body without its own headers,
	// sent as zot sends image.deleted (the headers of the tag delete above).
	{file: "zot-seeded-deleted-lasttag.body", headers: "zot-image-deleted-tag.headers", source: SourceCloudEvents, want: []Event{{
		ID: "337d8c79-ea1c-4702-97c7-369dcf647ab9", Source: SourceCloudEvents, Registry: "zotregistry.dev",
		Repository: "seeded/app", Digest: "sha256:1111111111111111111111111111111111111111111111111111111111111111", Tag: "v1",
		MediaType: ociManifest, Action: TagDelete, Time: zotAt(948084795),
	}}},
	{file: "zot-custom-identity-deleted.body", headers: "zot-custom-identity-deleted.headers", source: SourceCloudEvents, want: []Event{{
		ID: "fc7f8c08-8d9c-437a-a7e9-9fad79e2ef02", Source: SourceCloudEvents, Registry: "registry.example.com",
		Repository: "space/my-image", Digest: zotManifestD, Tag: "v2", MediaType: ociManifest, Action: TagDelete, Time: zotAt(957620699),
	}}},

	// repository.created, image.lint_failed, image.scanned: ignored.
	{file: "zot-repository-created.body", headers: "zot-repository-created.headers", source: SourceCloudEvents, ignored: 1},
	{file: "zot-image-lint-failed.body", headers: "zot-image-lint-failed.headers", source: SourceCloudEvents, ignored: 1},
	{file: "zot-image-scanned.body", headers: "zot-image-scanned.headers", source: SourceCloudEvents, ignored: 1},

	// zot in structured mode, the same events.
	{file: "zot-structured-image-updated.json", source: SourceCloudEvents, contentType: CloudEventsMediaType, want: []Event{{
		ID: "2210cab0-ac95-4e8e-acf1-85b18a6a2923", Source: SourceCloudEvents, Registry: "zotregistry.dev",
		Repository: "golang", Digest: zotManifestD, Tag: "1.22", MediaType: ociManifest, Action: Push,
		Time: time.Date(2026, 12, 3, 17, 48, 0, 576262792, time.UTC),
	}}},
	{file: "zot-structured-image-deleted.json", source: SourceCloudEvents, contentType: CloudEventsMediaType, want: []Event{{
		ID: "525ad884-612f-49b1-97c6-66ad40a4e933", Source: SourceCloudEvents, Registry: "zotregistry.dev",
		Repository: "golang", Digest: zotManifestD, MediaType: ociManifest, Action: Delete,
		Time: time.Date(2026, 12, 3, 17, 48, 0, 576859139, time.UTC),
	}}},
	{file: "zot-structured-repository-created.json", source: SourceCloudEvents, contentType: CloudEventsMediaType, ignored: 1},

	// zot's documentation gives the data of its events with "sha256:abc..."
	// as a placeholder digest: refused wherever layerq reads the digest.
	// A scan's data is not read.
	{file: "zot-docs-payload-data.json", headers: "zot-image-updated-tag.headers", source: SourceCloudEvents,
		reason: `cloudevents: event 0 ("zotregistry.image.updated"): invalid digest "sha256:abc..."`},
	{file: "zot-docs-scanned-data.json", headers: "zot-image-updated-tag.headers", source: SourceCloudEvents,
		reason: `cloudevents: event 0 ("zotregistry.image.updated"): invalid digest "sha256:abc..."`},
	{file: "zot-docs-scanned-data.json", headers: "zot-image-scanned.headers", source: SourceCloudEvents, ignored: 1},
}

// name names a case for t.Run.
func (tc realFormatCase) name() string {
	if tc.headers != "" && tc.headers != strings.TrimSuffix(tc.file, ".body")+".headers" {
		return tc.file + "+" + tc.headers
	}
	return tc.file
}

// load reads the case's body and builds its request header.
func (tc realFormatCase) load(t testing.TB) ([]byte, http.Header) {
	t.Helper()
	body := readRealFormat(t, tc.file)
	h := http.Header{}
	if tc.contentType != "" {
		h.Set("Content-Type", tc.contentType)
	}
	if tc.headers != "" {
		for i, line := range strings.Split(string(readRealFormat(t, tc.headers)), "\n") {
			line = strings.TrimSuffix(line, "\r")
			if line == "" {
				continue
			}
			name, value, ok := strings.Cut(line, ":")
			if !ok || name == "" || strings.TrimSpace(name) != name {
				t.Fatalf("%s line %d: %q is not a header line (want \"Name: value\")", tc.headers, i+1, line)
			}
			h.Add(name, strings.TrimSpace(value))
		}
	}
	return body, h
}

// decode decodes body with the case's own decoder.
func (tc realFormatCase) decode(body []byte, h http.Header) (Result, error) {
	switch tc.source {
	case SourceHarbor:
		return DecodeHarbor(body, h.Get("Content-Type"))
	case SourceDockerHub:
		return DecodeDockerHub(body)
	case SourceCloudEvents:
		return DecodeCloudEvent(body, h)
	}
	return Result{}, &DecodeError{Reason: "no decoder for source " + quote(tc.source)}
}

// readRealFormat reads a file of realFormatsDir; a missing one fails the
// test, naming where it looked.
func readRealFormat(t testing.TB, name string) []byte {
	t.Helper()
	path := filepath.Join(realFormatsDir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		abs, _ := filepath.Abs(path)
		t.Fatalf("fixture %s: %v (looked in %s)", name, err, abs)
	}
	return b
}

func TestRealFormats(t *testing.T) {
	t.Parallel()
	for _, tc := range realFormatCases {
		t.Run(tc.name(), func(t *testing.T) {
			t.Parallel()
			body, h := tc.load(t)
			res, err := tc.decode(body, h)
			if tc.reason != "" {
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("got %+v, %v; want a *DecodeError %q", res, err, tc.reason)
				}
				checkReason(t, res, err, tc.reason)
			} else {
				checkResult(t, res, err, tc.want, tc.ignored)
				if len(res.Rejected) != 0 {
					t.Errorf("rejected: %+v", res.Rejected)
				}
			}
			// The receiver routes through Decode: the same answer.
			res2, err2 := Decode(tc.source, body, h)
			if !reflect.DeepEqual(res, res2) || !reflect.DeepEqual(err, err2) {
				t.Errorf("Decode(%q) differs:\n got: %+v, %v\nwant: %+v, %v", tc.source, res2, err2, res, err)
			}
		})
	}
}

// TestRealFormatsListed fails when realFormatsDir holds a file the table
// does not list, or the table lists one it does not hold.
func TestRealFormatsListed(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir(realFormatsDir)
	if err != nil {
		t.Fatal(err)
	}
	var present []string
	for _, e := range entries {
		present = append(present, e.Name())
	}
	listed := map[string]bool{}
	for _, name := range realFormatsDocs {
		listed[name] = true
	}
	for _, tc := range realFormatCases {
		listed[tc.file] = true
		if tc.headers != "" {
			listed[tc.headers] = true
		}
	}
	for _, name := range present {
		if !listed[name] {
			t.Errorf("%s/%s is not in realFormatCases: add it with what its README says layerq does with it", realFormatsDir, name)
		}
	}
	for name := range listed {
		if !slices.Contains(present, name) {
			t.Errorf("realFormatCases lists %s, which %s does not hold", name, realFormatsDir)
		}
	}
}

// TestRealFormatsRepost checks the payload-digest IDs: a payload posted
// again, however it is formatted, decodes to the same events (a duplicate
// the stream drops), and payloads that differ have different IDs.
func TestRealFormatsRepost(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, tc := range realFormatCases {
		if len(tc.want) == 0 || !isDigest(tc.want[0].ID) {
			continue
		}
		for _, ev := range tc.want {
			if prev, ok := seen[ev.ID]; ok {
				t.Errorf("%s and %s have the same ID %s", prev, tc.file, ev.ID)
			}
			seen[ev.ID] = tc.file
		}
		t.Run(tc.name(), func(t *testing.T) {
			body, h := tc.load(t)
			want, err := tc.decode(body, h)
			if err != nil {
				t.Fatal(err)
			}
			v, err := generic(body)
			if err != nil {
				t.Fatal(err)
			}
			var compact, indented bytes.Buffer
			if err := json.Compact(&compact, body); err != nil {
				t.Fatal(err)
			}
			if err := json.Indent(&indented, compact.Bytes(), "", "\t"); err != nil {
				t.Fatal(err)
			}
			reposts := map[string][]byte{
				"compact":       compact.Bytes(),
				"indented":      append(indented.Bytes(), '\n'),
				"keys reversed": reversedKeys(v),
			}
			for how, b := range reposts {
				got, err := tc.decode(b, h)
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("reposted %s: got %s, %v; want %s", how, dump(got.Events), err, dump(want.Events))
				}
			}
		})
	}
	if len(seen) < 2 {
		t.Fatalf("only %d payload-digest IDs in realFormatCases", len(seen))
	}
}

// A later push of the same Docker Hub tag is a new event, not a duplicate.
func TestRealFormatsDockerHubLaterPush(t *testing.T) {
	t.Parallel()
	body := readRealFormat(t, "dockerhub-docs-current.json")
	later := bytes.Replace(body, []byte(`"pushed_at": 1417566161`), []byte(`"pushed_at": 1417566200`), 1)
	if bytes.Equal(later, body) {
		t.Fatal("dockerhub-docs-current.json has no pushed_at 1417566161")
	}
	first, err := DecodeDockerHub(body)
	if err != nil {
		t.Fatal(err)
	}
	second, err := DecodeDockerHub(later)
	if err != nil {
		t.Fatal(err)
	}
	if first.Events[0].ID == second.Events[0].ID {
		t.Errorf("a later push has the ID of the first, %s", first.Events[0].ID)
	}
	if want := time.Unix(1417566200, 0).UTC(); !second.Events[0].Time.Equal(want) {
		t.Errorf("later push at %v, want %v", second.Events[0].Time, want)
	}
}

// reversedKeys writes v (as generic decodes it) as JSON with the members of
// every object in reverse order of their keys.
func reversedKeys(v any) []byte {
	var b bytes.Buffer
	var write func(any)
	write = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			slices.SortFunc(keys, func(a, b string) int { return strings.Compare(b, a) })
			b.WriteByte('{')
			for i, k := range keys {
				if i > 0 {
					b.WriteByte(',')
				}
				write(k)
				b.WriteByte(':')
				write(v[k])
			}
			b.WriteByte('}')
		case []any:
			b.WriteByte('[')
			for i, e := range v {
				if i > 0 {
					b.WriteByte(',')
				}
				write(e)
			}
			b.WriteByte(']')
		default:
			e, _ := json.Marshal(v)
			b.Write(e)
		}
	}
	write(v)
	return b.Bytes()
}
