package webhook

import (
	"net/http"
	"strings"
	"testing"
)

const (
	okDigest = "sha256:89f9b6982b74495e3c9ed65dfaddd1ee31558cc990915e5dae61e49f2df2b38b"
	okTime   = "2026-11-23T12:28:13Z"
)

var deepJSON = strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)

// distPush is a distribution envelope with one manifest push whose target
// members are target.
func distPush(target string) string {
	return `{"events":[{"id":"e1","timestamp":"` + okTime + `","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		target + `},"request":{"host":"reg.local"}}]}`
}

// harborPush is a Harbor Default push with one resource and repository.
func harborPush(resource, repository string) string {
	return `{"type":"PUSH_ARTIFACT","occur_at":1680502542,"operator":"admin","event_data":{"resources":[{` + resource + `}],"repository":{` + repository + `}}}`
}

// Pieces of the bad-input tables.
const (
	harborRepo = `"repo_full_name":"library/app"`
	zotUpdated = "zotregistry.image.updated"
)

func harborRes(digest, tag, url string) string {
	return `"digest":"` + digest + `","tag":"` + tag + `","resource_url":"` + url + `"`
}

func zotBin(id, source, ts string) http.Header { return zotBinaryHeader(id, zotUpdated, source, ts) }

var (
	zotOK      = zotBin("x", "zotregistry.dev", "2026-11-23T12:30:01Z")
	structured = http.Header{"Content-Type": {"application/cloudevents+json"}}
)

// The bad inputs of each decoder and the reasons they are rejected with;
// the fuzz targets seed from them too.
var distributionBad = []struct {
	name, body, want string
}{
	{"empty body", "", "distribution: empty body"},
	{"white space only", " \r\n\t", "distribution: empty body"},
	{"truncated JSON", `{"events":[{"id":"x"`, "distribution: malformed JSON at offset 20: unexpected end of JSON input"},
	{"trailing garbage", `{"events":[]} x`, "distribution: malformed JSON at offset 15: invalid character 'x' after top-level value"},
	{"no events array", `{"event":[]}`, `distribution: no "events" array`},
	{"null body", `null`, `distribution: no "events" array`},
	{"events is an object", `{"events":{}}`, `distribution: "events" is not an array`},
	{"event is not an object", `{"events":[{"id":"a","action":"pull"},1]}`, "distribution: event 1 is not an object"},
	{"top level array", `[]`, "distribution: wrong shape: top level is array, want object"},
	{"action is a number", `{"events":[{"action":42}]}`, `distribution: event 0: wrong shape: "action" is number, want string`},
	{"missing action", `{"events":[{"id":"e"}]}`, "distribution: event 0: missing action"},
	{"missing repository", distPush(`"digest":"` + okDigest + `","url":"http://reg.local/v2/a/manifests/x"`), "distribution: event 0 (push): missing repository"},
	{"bad digest", distPush(`"digest":"sha256:xyz","repository":"a/b"`), `distribution: event 0 (push): invalid digest "sha256:xyz"`},
	{"upper-case digest", distPush(`"digest":"` + strings.ToUpper(okDigest) + `","repository":"a/b"`), `distribution: event 0 (push): invalid digest "SHA256:89F9B6982B74495E3C9ED65DFADDD1EE31558CC990915E5DAE61E49F2DF2B38B"`},
	{"tag with space", distPush(`"digest":"` + okDigest + `","repository":"a/b","tag":"v 1"`), `distribution: event 0 (push): invalid tag "v 1"`},
	{"repository with upper case", distPush(`"digest":"` + okDigest + `","repository":"A/b"`), `distribution: event 0 (push): invalid repository name "A/b"`},
	{"push without digest", distPush(`"repository":"a/b","tag":"v1","url":"http://reg.local/v2/a/b/manifests/v1"`), "distribution: event 0 (push): missing digest"},
	{"host with scheme", `{"events":[{"id":"e1","timestamp":"` + okTime + `","action":"delete","target":{"digest":"` + okDigest + `","repository":"a/b"},"request":{"host":"http://reg.local"}}]}`,
		`distribution: event 0 (delete): invalid registry host "http://reg.local" (want host[:port], no scheme or path)`},
	{"no host anywhere", `{"events":[{"id":"e1","timestamp":"` + okTime + `","action":"delete","target":{"digest":"` + okDigest + `","repository":"a/b"}}]}`,
		"distribution: event 0 (delete): missing registry host"},
	{"bad timestamp", `{"events":[{"id":"e1","timestamp":"yesterday","action":"delete","target":{"tag":"v1","repository":"a/b"},"request":{"host":"reg.local"}}]}`,
		`distribution: event 0 (delete): invalid timestamp "yesterday"`},
	{"missing id", `{"events":[{"timestamp":"` + okTime + `","action":"delete","target":{"tag":"v1","repository":"a/b"},"request":{"host":"reg.local"}}]}`,
		"distribution: event 0 (delete): missing id"},
	{"deep nesting", `{"events":[` + deepJSON + `]}`, "distribution: JSON nested deeper than 64 levels"},
	{"non-UTF-8 bytes", "{\"events\":[{\"id\":\"\xff\xfe\"}]}", "distribution: body is not valid UTF-8"},
}

func TestDecodeDistributionBad(t *testing.T) {
	t.Parallel()
	cases := distributionBad
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := DecodeDistribution([]byte(tc.body))
			checkReason(t, res, err, tc.want)
		})
	}
}

var harborBad = []struct {
	name, body, contentType, want string
}{
	{"empty body", "", "application/json", "harbor: empty body"},
	{"empty cloudevents body", "", "application/cloudevents+json", "harbor: empty body"},
	{"truncated JSON", `{"type":"PUSH_ARTIFACT"`, "application/json", "harbor: malformed JSON at offset 23: unexpected end of JSON input"},
	{"top level array", `[]`, "", "harbor: wrong shape: top level is array, want object"},
	{"resources is an object", `{"type":"PUSH_ARTIFACT","occur_at":1,"event_data":{"resources":{}}}`, "", `harbor: wrong shape: "event_data.resources" is object, want array`},
	{"missing type", `{"occur_at":1}`, "", `harbor: missing "type"`},
	{"missing occur_at", `{"type":"PUSH_ARTIFACT","event_data":{"resources":[{` + harborRes(okDigest, "v1", "h/library/app:v1") + `}],"repository":{` + harborRepo + `}}}`, "",
		"harbor: PUSH_ARTIFACT: missing occur_at"},
	{"missing event data", `{"type":"PUSH_ARTIFACT","occur_at":1}`, "", "harbor: PUSH_ARTIFACT: missing event data"},
	{"no resources", `{"type":"PUSH_ARTIFACT","occur_at":1,"event_data":{"resources":[],"repository":{` + harborRepo + `}}}`, "", "harbor: PUSH_ARTIFACT: no resources"},
	{"missing repository", harborPush(harborRes(okDigest, "v1", "h/library/app:v1"), ""), "", "harbor: event 0 (PUSH_ARTIFACT): missing repository"},
	{"bad digest", harborPush(harborRes("sha256:xyz", "v1", "h/library/app:v1"), harborRepo), "", `harbor: event 0 (PUSH_ARTIFACT): invalid digest "sha256:xyz"`},
	{"tag with space", harborPush(harborRes(okDigest, "v 1", "h/library/app:v1"), harborRepo), "", `harbor: event 0 (PUSH_ARTIFACT): invalid tag "v 1"`},
	{"missing resource_url", harborPush(`"digest":"`+okDigest+`","tag":"v1"`, harborRepo), "", "harbor: event 0 (PUSH_ARTIFACT): missing registry host"},
	{"delete without digest", `{"type":"DELETE_ARTIFACT","occur_at":1,"event_data":{"resources":[{"tag":"v1","resource_url":"h/library/app:v1"}],"repository":{` + harborRepo + `}}}`, "",
		"harbor: event 0 (DELETE_ARTIFACT): delete needs a digest"},
	{"cloudevent without id", `{"specversion":"1.0","source":"/p","type":"harbor.artifact.pushed","time":"2023-04-03T06:04:46Z","data":{}}`, "application/cloudevents+json",
		`harbor: missing "id"`},
	{"cloudevent of another version", `{"specversion":"0.3","id":"x","source":"/p","type":"harbor.artifact.pushed"}`, "application/cloudevents+json",
		`harbor: unsupported "specversion" "0.3", want "1.0"`},
	{"cloudevent data not an object", `{"specversion":"1.0","id":"x","source":"/p","type":"harbor.artifact.pushed","time":"2023-04-03T06:04:46Z","data":[1]}`, "application/cloudevents+json",
		"harbor: harbor.artifact.pushed: data is not an object"},
	{"cloudevent push without time", `{"specversion":"1.0","id":"x","source":"/p","type":"harbor.artifact.pushed","data":{"resources":[]}}`, "application/cloudevents+json",
		"harbor: harbor.artifact.pushed: missing time"},
	{"deep nesting", deepJSON, "application/json", "harbor: JSON nested deeper than 64 levels"},
	{"non-UTF-8 bytes", "{\"type\":\"\xfe\"}", "application/json", "harbor: body is not valid UTF-8"},
}

func TestDecodeHarborBad(t *testing.T) {
	t.Parallel()
	cases := harborBad
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := DecodeHarbor([]byte(tc.body), tc.contentType)
			checkReason(t, res, err, tc.want)
		})
	}
}

var dockerHubBad = []struct {
	name, body, want string
}{
	{"empty body", "", "dockerhub: empty body"},
	{"truncated JSON", `{"push_data":`, "dockerhub: malformed JSON at offset 13: unexpected end of JSON input"},
	{"top level array", `[]`, "dockerhub: wrong shape: top level is array, want object"},
	{"push_data is a string", `{"push_data":"x"}`, `dockerhub: wrong shape: "push_data" is string, want object`},
	{"missing push_data", `{}`, `dockerhub: missing "push_data"`},
	{"missing repository", `{"push_data":{"pushed_at":1,"tag":"v1"}}`, `dockerhub: missing "repository"`},
	{"missing repository name", `{"push_data":{"pushed_at":1,"tag":"v1"},"repository":{}}`, "dockerhub: event 0 (push): missing repository"},
	{"missing tag", `{"push_data":{"pushed_at":1},"repository":{"repo_name":"a/b"}}`, "dockerhub: push_data: missing tag"},
	{"tag with space", `{"push_data":{"pushed_at":1,"tag":"v 1"},"repository":{"repo_name":"a/b"}}`, `dockerhub: event 0 (push): invalid tag "v 1"`},
	{"missing pushed_at", `{"push_data":{"tag":"v1"},"repository":{"repo_name":"a/b"}}`, "dockerhub: push_data: missing pushed_at"},
	{"pushed_at a string", `{"push_data":{"pushed_at":"soon","tag":"v1"},"repository":{"repo_name":"a/b"}}`, `dockerhub: push_data: invalid pushed_at "\"soon\""`},
	{"repository with upper case", `{"push_data":{"pushed_at":1,"tag":"v1"},"repository":{"repo_name":"A/B"}}`, `dockerhub: event 0 (push): invalid repository name "A/B"`},
	{"deep nesting", `{"push_data":{"pushed_at":1,"tag":"v1"},"repository":{"repo_name":"a/b"},"x":` + deepJSON + `}`, "dockerhub: JSON nested deeper than 64 levels"},
	{"non-UTF-8 bytes", "{\"push_data\":{\"pushed_at\":1,\"tag\":\"v1\"},\"repository\":{\"repo_name\":\"a/b\xc0\"}}", "dockerhub: body is not valid UTF-8"},
}

func TestDecodeDockerHubBad(t *testing.T) {
	t.Parallel()
	cases := dockerHubBad
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := DecodeDockerHub([]byte(tc.body))
			checkReason(t, res, err, tc.want)
		})
	}
}

var cloudEventBad = []struct {
	name   string
	body   string
	header http.Header
	want   string
}{
	{"empty body without headers", "", nil, "cloudevents: empty body"},
	{"empty structured body", "", structured, "cloudevents: empty body"},
	{"plain JSON is not a CloudEvent", `{"name":"x"}`, http.Header{"Content-Type": {"application/json"}},
		`cloudevents: not a CloudEvent: no ce-specversion header, and Content-Type "application/json" is not application/cloudevents+json`},
	{"truncated structured JSON", `{"specversion":"1.0","id":`, structured, "cloudevents: malformed JSON at offset 26: unexpected end of JSON input"},
	{"structured is an array", `[]`, structured, "cloudevents: CloudEvent is not a JSON object"},
	{"structured id is a number", `{"specversion":"1.0","id":7,"source":"s","type":"t"}`, structured, `cloudevents: wrong shape: "id" is number, want string`},
	{"structured of another version", `{"specversion":"0.3","id":"x","source":"s","type":"t"}`, structured, `cloudevents: unsupported "specversion" "0.3", want "1.0"`},
	{"structured data not JSON", `{"specversion":"1.0","id":"x","source":"s","type":"t","datacontenttype":"text/plain","data":"hi"}`, structured,
		`cloudevents: unsupported datacontenttype "text/plain", want JSON`},
	{"structured update without data", `{"specversion":"1.0","id":"x","source":"s","type":"` + zotUpdated + `","time":"2026-11-23T12:30:01Z"}`, structured,
		`cloudevents: event 0 ("zotregistry.image.updated"): missing data`},
	{"batch that is not an array", `{"specversion":"1.0","id":"x","source":"s","type":"t"}`, http.Header{"Content-Type": {"application/cloudevents-batch+json"}},
		"cloudevents: CloudEvents batch is not a JSON array"},
	{"binary without ce-id", `{"name":"a","reference":"v1"}`, zotBin("", "zotregistry.dev", "2026-11-23T12:30:01Z"), "cloudevents: missing ce-id header"},
	{"binary with a bad time", `{"name":"a","reference":"v1"}`, zotBin("x", "zotregistry.dev", "noon"), `cloudevents: invalid ce-time header "noon"`},
	{"binary update without time", `{"name":"a","reference":"v1"}`, zotBin("x", "zotregistry.dev", ""), `cloudevents: event 0 ("zotregistry.image.updated"): missing time`},
	{"binary with a bad percent-encoding", `{"name":"a","reference":"v1"}`, zotBin("x", "bad%zz", "2026-11-23T12:30:01Z"), "cloudevents: ce-source header: bad percent-encoding"},
	{"binary update without data", "", zotOK, `cloudevents: event 0 ("zotregistry.image.updated"): missing data`},
	{"binary data not an object", `[1]`, zotOK, `cloudevents: event 0 ("zotregistry.image.updated"): data is not an object`},
	{"binary truncated JSON", `{"name":"a","reference":"v1"`, zotOK, "cloudevents: malformed JSON at offset 28: unexpected end of JSON input"},
	{"binary data name is a number", `{"name":1}`, zotOK, `cloudevents: event 0 ("zotregistry.image.updated"): data: wrong shape: "name" is number, want string`},
	{"missing repository", `{"reference":"v1"}`, zotOK, `cloudevents: event 0 ("zotregistry.image.updated"): missing repository`},
	{"bad digest", `{"name":"a","reference":"sha256:xyz"}`, zotOK, `cloudevents: event 0 ("zotregistry.image.updated"): invalid digest "sha256:xyz"`},
	{"tag with space", `{"name":"a","reference":"v 1"}`, zotOK, `cloudevents: event 0 ("zotregistry.image.updated"): invalid tag "v 1"`},
	{"reference and digest differ", `{"name":"a","reference":"` + okDigest + `","digest":"sha256:a41bb1de9dab00410e64fe8052685aab9588245ae36540ef3978b63960b158f2"}`, zotOK,
		`cloudevents: event 0 ("zotregistry.image.updated"): reference "sha256:89f9b6982b74495e3c9ed65dfaddd1ee31558cc990915e5dae61e49f2df2b38b" and digest "sha256:a41bb1de9dab00410e64fe8052685aab9588245ae36540ef3978b63960b158f2" differ`},
	{"source that is not a host", `{"name":"a","reference":"v1"}`, zotBin("x", "urn:acme:registry:1", "2026-11-23T12:30:01Z"),
		`cloudevents: event 0 ("zotregistry.image.updated"): invalid registry host "urn:acme:registry:1" (want host[:port], no scheme or path)`},
	{"deep nesting", deepJSON, zotOK, "cloudevents: JSON nested deeper than 64 levels"},
	{"non-UTF-8 bytes", "{\"name\":\"\xff\"}", zotOK, "cloudevents: body is not valid UTF-8"},
}

func TestDecodeCloudEventBad(t *testing.T) {
	t.Parallel()
	cases := cloudEventBad
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := DecodeCloudEvent([]byte(tc.body), tc.header)
			checkReason(t, res, err, tc.want)
		})
	}
}
