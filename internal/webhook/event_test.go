package webhook

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// reformat re-encodes a JSON text indented, with the members of every
// object in reverse order: the same payload, written differently.
func reformat(t *testing.T, s string) string {
	t.Helper()
	v, err := generic([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	writeReversed(&b, v, "\n")
	if !json.Valid([]byte(b.String())) {
		t.Fatalf("reformat produced invalid JSON: %s", b.String())
	}
	return b.String()
}

func writeReversed(b *strings.Builder, v any, indent string) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		// reverse lexical order
		for i := range keys {
			for j := i + 1; j < len(keys); j++ {
				if keys[j] > keys[i] {
					keys[i], keys[j] = keys[j], keys[i]
				}
			}
		}
		b.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(",")
			}
			kb, _ := json.Marshal(k)
			b.WriteString(indent + "  " + string(kb) + " : ")
			writeReversed(b, x[k], indent+"  ")
		}
		b.WriteString(indent + "}")
	case []any:
		b.WriteString("[ ")
		for i, e := range x {
			if i > 0 {
				b.WriteString(" , ")
			}
			writeReversed(b, e, indent+"  ")
		}
		b.WriteString(" ]")
	default:
		vb, _ := json.Marshal(x)
		b.Write(vb)
	}
}

// Payload-digest IDs: the same payload gives the same ID, however it is
// formatted; a different payload gives a different one.
func TestPayloadDigestIDsAreStable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		body    string
		changed string
		decode  func([]byte) (Result, error)
	}{
		{"harbor default", harborPushTagged, strings.Replace(harborPushTagged, "1680502542", "1680502543", 1),
			func(b []byte) (Result, error) { return DecodeHarbor(b, "application/json") }},
		{"dockerhub", dockerHubPush, strings.Replace(dockerHubPush, `"pusher": "trustedbuilder"`, `"pusher": "someoneelse"`, 1), DecodeDockerHub},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := func(body string) string {
				t.Helper()
				res, err := tc.decode([]byte(body))
				if err != nil || len(res.Events) != 1 {
					t.Fatalf("decode: %+v, %v", res, err)
				}
				return res.Events[0].ID
			}
			first := id(tc.body)
			if !isDigest(first) {
				t.Errorf("ID %q is not a sha256 digest", first)
			}
			if again := id(tc.body); again != first {
				t.Errorf("same payload, new ID: %s then %s", first, again)
			}
			re := reformat(t, tc.body)
			if re == tc.body {
				t.Fatal("reformat changed nothing")
			}
			if other := id(re); other != first {
				t.Errorf("reformatted payload, new ID: %s then %s\n%s", first, other, re)
			}
			if changed := id(tc.changed); changed == first {
				t.Errorf("changed payload kept ID %s", first)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	good := Event{
		ID: "01a20861-f4f4-74a0-bf3f-65a9ba5c5b31", Source: "distribution", Registry: "127.0.0.1:5000",
		Repository: "library/base", Digest: okDigest, Tag: "bookworm", MediaType: "application/vnd.oci.image.manifest.v1+json",
		Action: Push, Time: time.Date(2026, 11, 23, 12, 28, 13, 0, time.UTC),
	}
	sha512 := "sha512:" + strings.Repeat("0123456789abcdef", 8)
	cases := []struct {
		name   string
		modify func(*Event)
		want   string // "" = valid
	}{
		{"valid", func(*Event) {}, ""},
		{"sha512 digest", func(e *Event) { e.Digest = sha512 }, ""},
		{"push by tag only", func(e *Event) { e.Digest = "" }, ""},
		{"push by digest only", func(e *Event) { e.Tag = "" }, ""},
		{"delete", func(e *Event) { e.Action, e.Tag = Delete, "" }, ""},
		{"tag delete without digest", func(e *Event) { e.Action, e.Digest = TagDelete, "" }, ""},
		{"dns host", func(e *Event) { e.Registry = "harbor.example.com" }, ""},
		{"localhost with port", func(e *Event) { e.Registry = "localhost:5000" }, ""},
		{"ipv6 host with port", func(e *Event) { e.Registry = "[::1]:5000" }, ""},
		{"separators in repository", func(e *Event) { e.Repository = "a-b/c__d/e.f/g---h" }, ""},
		{"128-character tag", func(e *Event) { e.Tag = strings.Repeat("a", 128) }, ""},
		{"missing id", func(e *Event) { e.ID = "" }, "missing id"},
		{"id with a newline", func(e *Event) { e.ID = "a\nb" }, `invalid id "a\nb"`},
		{"unknown source", func(e *Event) { e.Source = "quay" }, `unknown source "quay"`},
		{"missing registry", func(e *Event) { e.Registry = "" }, "missing registry host"},
		{"registry with scheme", func(e *Event) { e.Registry = "https://reg.local" }, `invalid registry host "https://reg.local" (want host[:port], no scheme or path)`},
		{"registry with path", func(e *Event) { e.Registry = "reg.local/v2" }, `invalid registry host "reg.local/v2" (want host[:port], no scheme or path)`},
		{"registry port out of range", func(e *Event) { e.Registry = "reg.local:70000" }, `invalid registry host "reg.local:70000" (want host[:port], no scheme or path)`},
		{"missing repository", func(e *Event) { e.Repository = "" }, "missing repository"},
		{"repository with upper case", func(e *Event) { e.Repository = "Library/base" }, `invalid repository name "Library/base"`},
		{"repository with leading slash", func(e *Event) { e.Repository = "/base" }, `invalid repository name "/base"`},
		{"repository with double slash", func(e *Event) { e.Repository = "a//b" }, `invalid repository name "a//b"`},
		{"repository too long", func(e *Event) { e.Repository = strings.Repeat("a", 256) },
			`invalid repository name "` + strings.Repeat("a", 80) + `"…`},
		{"push with neither", func(e *Event) { e.Digest, e.Tag = "", "" }, "push needs a digest or a tag"},
		{"delete without digest", func(e *Event) { e.Action, e.Digest = Delete, "" }, "delete needs a digest"},
		{"tag delete without tag", func(e *Event) { e.Action, e.Tag = TagDelete, "" }, "tag_delete needs a tag"},
		{"unknown action", func(e *Event) { e.Action = "pull" }, `unknown action "pull"`},
		{"short digest", func(e *Event) { e.Digest = "sha256:xyz" }, `invalid digest "sha256:xyz"`},
		{"unknown algorithm", func(e *Event) { e.Digest = "md5:" + strings.Repeat("a", 32) }, `invalid digest "md5:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"`},
		{"sha512 with 64 digits", func(e *Event) { e.Digest = "sha512:" + okDigest[7:] }, `invalid digest "sha512:` + okDigest[7:] + `"`},
		{"tag with space", func(e *Event) { e.Tag = "v 1" }, `invalid tag "v 1"`},
		{"tag starting with a dot", func(e *Event) { e.Tag = ".v1" }, `invalid tag ".v1"`},
		{"129-character tag", func(e *Event) { e.Tag = strings.Repeat("a", 129) }, `invalid tag "` + strings.Repeat("a", 80) + `"…`},
		{"media type with parameters", func(e *Event) { e.MediaType = "application/json; charset=utf-8" }, `invalid media type "application/json; charset=utf-8"`},
		{"zero time", func(e *Event) { e.Time = time.Time{} }, "missing time"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := good
			tc.modify(&e)
			err := e.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && err == nil:
				t.Errorf("Validate() = nil, want %q", tc.want)
			case tc.want != "" && err.Error() != tc.want:
				t.Errorf("Validate():\n got: %s\nwant: %s", err, tc.want)
			}
		})
	}
}

// Events marshal with the JSON names other packages rely on.
func TestEventJSON(t *testing.T) {
	t.Parallel()
	e := Event{ID: "x", Source: "dockerhub", Registry: "docker.io", Repository: "library/nginx", Tag: "1", Action: Push,
		Time: time.Date(2014, 12, 3, 0, 22, 41, 0, time.UTC)}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"id":"x","source":"dockerhub","registry":"docker.io","repository":"library/nginx","tag":"1","action":"push","time":"2014-12-03T00:22:41Z"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestDepthLimit(t *testing.T) {
	t.Parallel()
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	if !depthWithin([]byte(nest(MaxDepth)), MaxDepth) {
		t.Errorf("depth %d rejected", MaxDepth)
	}
	if depthWithin([]byte(nest(MaxDepth+1)), MaxDepth) {
		t.Errorf("depth %d accepted", MaxDepth+1)
	}
	// Brackets inside strings, escaped quotes included, do not count.
	if !depthWithin([]byte(`["\"`+strings.Repeat("[", 100)+`"]`), 1) {
		t.Error("brackets in a string counted")
	}
	// A whole body at the limit decodes: the envelope, the events array, the
	// event and 61 levels inside an ignored member make 64; one more does not.
	body := func(inner int) []byte {
		return []byte(`{"events":[{"id":"a","action":"pull","x":` + nest(inner) + `}]}`)
	}
	res, err := DecodeDistribution(body(MaxDepth - 3))
	checkResult(t, res, err, nil, 1)
	res, err = DecodeDistribution(body(MaxDepth - 2))
	checkReason(t, res, err, "distribution: JSON nested deeper than 64 levels")
}
