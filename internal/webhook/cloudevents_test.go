package webhook

import (
	"net/http"
	"testing"
	"time"
)

// zot's events extension (pkg/extensions/events): CloudEvents 1.0 built with
// sdk-go, source "zotregistry.dev" unless configured, data
// {"name","reference","digest","mediaType","manifest"} (no "manifest" for
// image.deleted). Its HTTP sink sends binary mode.
const (
	zotDigest   = "sha256:e63eec451de31a1178caf8389919251d9ecf7dcc69ebe2050ef58a4a1d492c81"
	zotManifest = `{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:b79f3041657b24164b82e6f6a827614a7b45601ad090cc4dcbbf5173f1517430\",\"size\":1396},\"layers\":[]}`

	zotUpdatedData = `{"digest":"` + zotDigest + `","manifest":"` + zotManifest + `","mediaType":"application/vnd.oci.image.manifest.v1+json","name":"golang","reference":"latest"}`

	zotStructuredUpdated = `{"specversion":"1.0","id":"5f9a3f0e-5b7c-4d1e-9c1a-2b0f6f3d8e11","source":"https://zot.example.com:5000","type":"zotregistry.image.updated",` +
		`"datacontenttype":"application/json","time":"2026-11-23T12:30:01.123456789Z","data":` + zotUpdatedData + `}`
	zotStructuredDeletedByDigest = `{"specversion":"1.0","id":"0c0e9f4e-3c0b-4a57-8f5e-0d3f1a1b2c3d","source":"https://zot.example.com:5000","type":"zotregistry.image.deleted",` +
		`"datacontenttype":"application/json","time":"2026-11-23T12:31:00Z","data":{"digest":"` + zotDigest + `","mediaType":"application/vnd.oci.image.manifest.v1+json","name":"golang","reference":"` + zotDigest + `"}}`
	zotStructuredRepoCreated = `{"specversion":"1.0","id":"7d1c","source":"zotregistry.dev","type":"zotregistry.repository.created","datacontenttype":"application/json","time":"2026-11-23T12:30:00Z","data":{"name":"golang"}}`
	zotStructuredLintFailed  = `{"specversion":"1.0","id":"7d1d","source":"zotregistry.dev","type":"zotregistry.image.lint_failed","datacontenttype":"application/json","time":"2026-11-23T12:30:00Z",` +
		`"data":{"digest":"` + zotDigest + `","manifest":"{}","mediaType":"application/vnd.oci.image.manifest.v1+json","name":"golang","reference":"latest"}}`
)

// zotBinaryHeader is what zot's HTTP sink (sdk-go, binary mode) sends.
func zotBinaryHeader(id, typ, source, ts string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Ce-Specversion", "1.0")
	h.Set("Ce-Id", id)
	h.Set("Ce-Type", typ)
	h.Set("Ce-Source", source)
	h.Set("Ce-Time", ts)
	return h
}

func structuredHeader() http.Header {
	return http.Header{"Content-Type": {"application/cloudevents+json; charset=utf-8"}}
}

func TestDecodeCloudEvent(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 23, 12, 30, 1, 123456789, time.UTC)
	const mt = "application/vnd.oci.image.manifest.v1+json"
	cases := []struct {
		name        string
		body        string
		header      http.Header
		want        []Event
		wantIgnored int
	}{
		{
			name: "structured image.updated by tag", body: zotStructuredUpdated, header: structuredHeader(),
			want: []Event{{ID: "5f9a3f0e-5b7c-4d1e-9c1a-2b0f6f3d8e11", Source: "cloudevents", Registry: "zot.example.com:5000",
				Repository: "golang", Digest: zotDigest, Tag: "latest", MediaType: mt, Action: Push, Time: at}},
		},
		{
			name: "structured recognised by specversion without header", body: zotStructuredUpdated, header: nil,
			want: []Event{{ID: "5f9a3f0e-5b7c-4d1e-9c1a-2b0f6f3d8e11", Source: "cloudevents", Registry: "zot.example.com:5000",
				Repository: "golang", Digest: zotDigest, Tag: "latest", MediaType: mt, Action: Push, Time: at}},
		},
		{
			name: "structured image.deleted by digest", body: zotStructuredDeletedByDigest, header: structuredHeader(),
			want: []Event{{ID: "0c0e9f4e-3c0b-4a57-8f5e-0d3f1a1b2c3d", Source: "cloudevents", Registry: "zot.example.com:5000",
				Repository: "golang", Digest: zotDigest, MediaType: mt, Action: Delete, Time: time.Date(2026, 11, 23, 12, 31, 0, 0, time.UTC)}},
		},
		{name: "structured repository.created is ignored", body: zotStructuredRepoCreated, header: structuredHeader(), wantIgnored: 1},
		{name: "structured image.lint_failed is ignored", body: zotStructuredLintFailed, header: structuredHeader(), wantIgnored: 1},
		{
			name: "binary image.updated (zot's HTTP sink)", body: zotUpdatedData,
			header: zotBinaryHeader("9b2e6d0c-1f1a-4b7e-8a55-3f0b7c1d2e4f", "zotregistry.image.updated", "zotregistry.dev", "2026-11-23T12:30:01.123456789Z"),
			want: []Event{{ID: "9b2e6d0c-1f1a-4b7e-8a55-3f0b7c1d2e4f", Source: "cloudevents", Registry: "zotregistry.dev",
				Repository: "golang", Digest: zotDigest, Tag: "latest", MediaType: mt, Action: Push, Time: at}},
		},
		{
			name: "binary image.updated pushed by digest", body: `{"name":"team/app","reference":"` + zotDigest + `","digest":"` + zotDigest + `","mediaType":"` + mt + `","manifest":"{}"}`,
			header: zotBinaryHeader("b1", "zotregistry.image.updated", "https://zot.example.com/", "2026-11-23T12:30:01.123456789Z"),
			want: []Event{{ID: "b1", Source: "cloudevents", Registry: "zot.example.com",
				Repository: "team/app", Digest: zotDigest, MediaType: mt, Action: Push, Time: at}},
		},
		{
			name: "binary image.deleted by tag is a tag delete", body: `{"name":"golang","reference":"latest","digest":"` + zotDigest + `","mediaType":"` + mt + `"}`,
			header: zotBinaryHeader("b2", "zotregistry.image.deleted", "zotregistry.dev", "2026-11-23T12:30:01.123456789+00:00"),
			want: []Event{{ID: "b2", Source: "cloudevents", Registry: "zotregistry.dev",
				Repository: "golang", Digest: zotDigest, Tag: "latest", MediaType: mt, Action: TagDelete, Time: at}},
		},
		{
			name: "binary repository.created is ignored", body: `{"name":"golang"}`,
			header:      zotBinaryHeader("b3", "zotregistry.repository.created", "zotregistry.dev", "2026-11-23T12:30:01Z"),
			wantIgnored: 1,
		},
		{
			name: "binary with percent-encoded source and a configured type prefix", body: `{"name":"golang","reference":"v1","digest":"` + zotDigest + `","mediaType":"` + mt + `"}`,
			header: zotBinaryHeader("b4", "com.example.registry.image.updated", "https%3A%2F%2Fregistry.example.com%2Facme", "2026-11-23T12:30:01.123456789Z"),
			want: []Event{{ID: "b4", Source: "cloudevents", Registry: "registry.example.com",
				Repository: "golang", Digest: zotDigest, Tag: "v1", MediaType: mt, Action: Push, Time: at}},
		},
		{
			name:   "batch mixes work and ignorable events",
			body:   `[` + zotStructuredRepoCreated + `,` + zotStructuredUpdated + `,` + zotStructuredDeletedByDigest + `]`,
			header: http.Header{"Content-Type": {"application/cloudevents-batch+json"}},
			want: []Event{
				{ID: "5f9a3f0e-5b7c-4d1e-9c1a-2b0f6f3d8e11", Source: "cloudevents", Registry: "zot.example.com:5000",
					Repository: "golang", Digest: zotDigest, Tag: "latest", MediaType: mt, Action: Push, Time: at},
				{ID: "0c0e9f4e-3c0b-4a57-8f5e-0d3f1a1b2c3d", Source: "cloudevents", Registry: "zot.example.com:5000",
					Repository: "golang", Digest: zotDigest, MediaType: mt, Action: Delete, Time: time.Date(2026, 11, 23, 12, 31, 0, 0, time.UTC)},
			},
			wantIgnored: 1,
		},
		{
			name: "structured with data_base64",
			body: `{"specversion":"1.0","id":"c1","source":"zot.example.com","type":"zotregistry.image.updated","time":"2026-11-23T12:30:01.123456789Z",` +
				`"data_base64":"eyJuYW1lIjoiZ29sYW5nIiwicmVmZXJlbmNlIjoibGF0ZXN0IiwiZGlnZXN0Ijoic2hhMjU2OmU2M2VlYzQ1MWRlMzFhMTE3OGNhZjgzODk5MTkyNTFkOWVjZjdkY2M2OWViZTIwNTBlZjU4YTRhMWQ0OTJjODEifQ=="}`,
			header: structuredHeader(),
			want: []Event{{ID: "c1", Source: "cloudevents", Registry: "zot.example.com",
				Repository: "golang", Digest: zotDigest, Tag: "latest", Action: Push, Time: at}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := DecodeCloudEvent([]byte(tc.body), tc.header)
			checkResult(t, res, err, tc.want, tc.wantIgnored)
		})
	}
}

func TestDecodeDispatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		source string
		body   string
		header http.Header
		want   int
	}{
		{SourceHarbor, harborCEPush, http.Header{"Content-Type": {"application/cloudevents+json"}}, 1},
		{SourceDockerHub, dockerHubPush, nil, 1},
		{SourceCloudEvents, zotUpdatedData, zotBinaryHeader("x", "zotregistry.image.updated", "zotregistry.dev", "2026-11-23T12:30:01Z"), 1},
		{SourceDistribution, `{"events":[]}`, nil, 0},
	}
	for _, tc := range cases {
		res, err := Decode(tc.source, []byte(tc.body), tc.header)
		if err != nil || len(res.Events) != tc.want {
			t.Errorf("Decode(%s) = %+v, %v; want %d events", tc.source, res, err, tc.want)
		}
	}
	res, err := Decode("quay", []byte(`{}`), nil)
	checkReason(t, res, err, `webhook: unknown source "quay"`)
}
