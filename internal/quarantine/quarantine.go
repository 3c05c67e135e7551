// Package quarantine describes what the webhook receiver keeps aside
// instead of refusing: an event, or a whole body, from an authenticated
// sender that layerq cannot use as it is configured now. Refusing it would
// stop the registry's queue (the CNCF distribution registry retries a
// refused event forever and sends nothing behind it); keeping it lets the
// sender go on, and an operator fix the configuration and replay it.
//
// An Item is stored on the stream first (before the sender is answered),
// then in the quarantine table, where `layerq-ingest quarantine` lists,
// shows, replays and drops it.
package quarantine

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"time"
)

// Reason classes an Item.
type Reason string

// The reasons an event or body is quarantined.
const (
	// UnknownRegistry: the event names a host no configured registry has,
	// and the endpoint and credentials it came through do not say which
	// registry sent it (or name a registry that is not configured).
	UnknownRegistry Reason = "unknown_registry"
	// MalformedEvent: one event of a well-formed body cannot be used.
	MalformedEvent Reason = "malformed_event"
	// UnparseableBody: the body is not the source's format at all.
	UnparseableBody Reason = "unparseable_body"
	// UnsupportedMediaType: the body is JSON of a media type the source
	// does not send, and does not decode as the source's format.
	UnsupportedMediaType Reason = "unsupported_media_type"
)

// Reasons lists every Reason, for metrics served from zero.
var Reasons = []Reason{UnknownRegistry, MalformedEvent, UnparseableBody, UnsupportedMediaType}

// Kinds of Item data.
const (
	// KindEvent: Data is a decoded event (webhook.Event as JSON).
	KindEvent = "event"
	// KindBody: Data is a request body as received (or, for one event of
	// a distribution envelope, an envelope of that event alone), decoded
	// with Header.
	KindBody = "body"
)

// Item is one quarantined event or body.
type Item struct {
	// ID identifies the item: the same data from the same endpoint is one
	// item however often the sender retries it.
	ID string `json:"id"`
	// Source is the webhook source ("distribution", "harbor", …).
	Source string `json:"source"`
	// Registry is the registry the endpoint or the credentials named, ""
	// on a shared endpoint.
	Registry string `json:"registry,omitempty"`
	Reason   Reason `json:"reason"`
	// Detail says what was wrong, in one line.
	Detail string `json:"detail"`
	Kind   string `json:"kind"`
	Data   []byte `json:"data"`
	// Header holds the request headers decoding Data needs: Content-Type
	// and the CloudEvents ce-* attributes; never credentials.
	Header     map[string]string `json:"header,omitempty"`
	ReceivedAt time.Time         `json:"received_at"`
}

// NewID computes an item's ID from what identifies it.
func NewID(source, registry, kind string, data []byte, header map[string]string) string {
	h := sha256.New()
	for _, s := range []string{source, registry, kind} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	keys := make([]string, 0, len(header))
	for k := range header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h.Write([]byte(k + ": " + header[k]))
		h.Write([]byte{0})
	}
	h.Write(data)
	return "q-" + hex.EncodeToString(h.Sum(nil))[:32]
}
