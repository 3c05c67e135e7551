package webhook

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// checkFuzzed asserts what holds for any input: no panic (the fuzzer sees
// one), an error is a one-line *DecodeError with no result, every event
// passes Validate and carries the decoder's source, and decoding again gives
// the same answer (IDs included); a rejected event has a one-line reason.
// redecode, when set, decodes a rejected event's body: it is well formed,
// and holds at least one rejected event again.
func checkFuzzed(t *testing.T, source string, decode func() (Result, error), redecode ...func([]byte) (Result, error)) {
	t.Helper()
	res, err := decode()
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("error %T is not a *DecodeError: %v", err, err)
		}
		if de.Reason == "" || strings.ContainsAny(de.Reason, "\r\n") {
			t.Fatalf("reason is empty or not one line: %q", de.Reason)
		}
		if len(res.Events) != 0 || res.Ignored != 0 {
			t.Fatalf("error %q came with a result %+v", de.Reason, res)
		}
	}
	for i, ev := range res.Events {
		if verr := ev.Validate(); verr != nil {
			t.Fatalf("event %d %s does not validate: %v", i, dump(ev), verr)
		}
		if ev.Source != source {
			t.Fatalf("event %d has source %q, want %q", i, ev.Source, source)
		}
	}
	for i, r := range res.Rejected {
		if !strings.HasPrefix(r.Reason, source+": ") || strings.ContainsAny(r.Reason, "\r\n") {
			t.Fatalf("rejected event %d: reason %q is not one line starting with the source", i, r.Reason)
		}
		for _, dec := range redecode {
			again, err := dec(r.Body)
			if err != nil || len(again.Rejected) == 0 {
				t.Fatalf("rejected event %d: its body %q decodes to %+v, %v; want it rejected again", i, r.Body, again, err)
			}
		}
	}
	res2, err2 := decode()
	if !reflect.DeepEqual(res, res2) || (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
		t.Fatalf("decoding twice differs:\n%+v %v\n%+v %v", res, err, res2, err2)
	}
}

// addRealFormats passes each file of testdata/real-formats that source
// decodes (every one, TestRealFormatsListed checks) to add, with the header
// it is sent with.
func addRealFormats(f *testing.F, source string, add func(body []byte, h http.Header)) {
	for _, tc := range realFormatCases {
		if tc.source == source {
			add(tc.load(f))
		}
	}
}

func FuzzDecodeDistribution(f *testing.F) {
	for _, tc := range distributionFixtureCases {
		f.Add([]byte(loadFixture(f, tc.name).Body))
	}
	for _, tc := range distributionBad {
		f.Add([]byte(tc.body))
	}
	f.Add([]byte(`{"events":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkFuzzed(t, SourceDistribution, func() (Result, error) { return DecodeDistribution(body) }, DecodeDistribution)
	})
}

func FuzzDecodeHarbor(f *testing.F) {
	for _, b := range []string{harborPushTagged, harborPushUntagged, harborDelete, harborPull, harborScan, harborPushTwo} {
		f.Add([]byte(b), "application/json")
	}
	for _, b := range []string{harborCEPush, harborCEDelete, harborCEPull, harborCEPushTwo} {
		f.Add([]byte(b), "application/cloudevents+json")
	}
	for _, tc := range harborBad {
		f.Add([]byte(tc.body), tc.contentType)
	}
	addRealFormats(f, SourceHarbor, func(body []byte, h http.Header) { f.Add(body, h.Get("Content-Type")) })
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		checkFuzzed(t, SourceHarbor, func() (Result, error) { return DecodeHarbor(body, contentType) })
	})
}

func FuzzDecodeDockerHub(f *testing.F) {
	f.Add([]byte(dockerHubPush))
	f.Add([]byte(`{"push_data":{"pushed_at":1.417566161e+09,"tag":"1.27"},"repository":{"repo_name":"nginx"}}`))
	for _, tc := range dockerHubBad {
		f.Add([]byte(tc.body))
	}
	addRealFormats(f, SourceDockerHub, func(body []byte, _ http.Header) { f.Add(body) })
	f.Fuzz(func(t *testing.T, body []byte) {
		checkFuzzed(t, SourceDockerHub, func() (Result, error) { return DecodeDockerHub(body) })
	})
}

// ceHeaders are the headers the CloudEvent fuzzer varies, in its argument
// order after the body.
var ceHeaders = []string{"Content-Type", "Ce-Specversion", "Ce-Id", "Ce-Source", "Ce-Type", "Ce-Time"}

func FuzzDecodeCloudEvent(f *testing.F) {
	add := func(body string, h http.Header) {
		f.Add([]byte(body), h.Get("Content-Type"), h.Get("Ce-Specversion"), h.Get("Ce-Id"),
			h.Get("Ce-Source"), h.Get("Ce-Type"), h.Get("Ce-Time"))
	}
	for _, b := range []string{zotStructuredUpdated, zotStructuredDeletedByDigest, zotStructuredRepoCreated, zotStructuredLintFailed} {
		add(b, structuredHeader())
	}
	add(`[`+zotStructuredRepoCreated+`,`+zotStructuredUpdated+`]`, http.Header{"Content-Type": {CloudEventsBatchMediaType}})
	add(zotUpdatedData, zotBinaryHeader("b1", "zotregistry.image.updated", "zotregistry.dev", "2026-11-23T12:30:01Z"))
	add(`{"name":"golang","reference":"latest","digest":"`+zotDigest+`"}`, zotBinaryHeader("b2", "zotregistry.image.deleted", "https://zot.example.com", "2026-11-23T12:30:01Z"))
	for _, tc := range cloudEventBad {
		add(tc.body, tc.header)
	}
	addRealFormats(f, SourceCloudEvents, func(body []byte, h http.Header) { add(string(body), h) })
	f.Fuzz(func(t *testing.T, body []byte, contentType, spec, id, source, typ, ts string) {
		h := http.Header{}
		for i, v := range []string{contentType, spec, id, source, typ, ts} {
			if v != "" {
				h.Set(ceHeaders[i], v)
			}
		}
		checkFuzzed(t, SourceCloudEvents, func() (Result, error) { return DecodeCloudEvent(body, h) })
	})
}
