package webhook

import (
	"maps"
	"net/http"
	"testing"
)

// What a quarantined item keeps of a request's headers: what decoding
// needs, never credentials; and the same header back for a replay.
func TestKeptHeader(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Set("Content-Type", "application/cloudevents+json")
	h.Set("ce-type", "com.example.push")
	h.Set("Authorization", "Bearer secret")
	h.Set("X-Harbor-Token", "secret")
	h.Set("Cookie", "a=b")
	kept := KeptHeader(h)
	want := map[string]string{"Content-Type": "application/cloudevents+json", "Ce-Type": "com.example.push"}
	if !maps.Equal(kept, want) {
		t.Errorf("KeptHeader = %v, want %v", kept, want)
	}
	back := Header(kept)
	if back.Get("Content-Type") != "application/cloudevents+json" || back.Get("ce-type") != "com.example.push" || len(back) != 2 {
		t.Errorf("Header(%v) = %v", kept, back)
	}
	if KeptHeader(http.Header{"Authorization": {"x"}}) != nil {
		t.Error("a request with no header to keep keeps an empty map, not nil")
	}
}
