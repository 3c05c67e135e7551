package webhook

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Content types of the CloudEvents HTTP binding.
const (
	// CloudEventsMediaType is the Content-Type of a structured-mode
	// CloudEvent: the whole event, attributes and data, as one JSON object.
	CloudEventsMediaType = "application/cloudevents+json"
	// CloudEventsBatchMediaType is the Content-Type of a batch: a JSON array
	// of structured-mode events.
	CloudEventsBatchMediaType = "application/cloudevents-batch+json"
)

// cloudEvent is a CloudEvent's attributes layerq reads, and its data.
type cloudEvent struct {
	ID     string
	Source string
	Type   string
	Time   time.Time // zero when the event has none
	Data   []byte    // JSON; nil when the event has none
}

type ceEnvelope struct {
	SpecVersion     *string         `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
	DataBase64      *string         `json:"data_base64"`
}

// DecodeCloudEvent decodes a request carrying CloudEvents 1.0 from zot's
// events extension, in any HTTP mode of the CloudEvents binding:
//
//   - structured: Content-Type application/cloudevents+json, the event as a
//     JSON object (also recognised by a "specversion" member when the
//     Content-Type is something else, such as application/json);
//   - batched: Content-Type application/cloudevents-batch+json, a JSON array
//     of structured events;
//   - binary (what zot's HTTP sink sends): the attributes in the ce-id,
//     ce-type, ce-source, ce-time and ce-specversion headers and the data,
//     JSON, in the body.
//
// header is the request's header (canonical keys, as net/http gives them);
// it may be nil for a structured body. "<prefix>.image.updated" and
// "<prefix>.image.deleted" (zot's prefix is "zotregistry") need work; every
// other type is counted in Result.Ignored.
func DecodeCloudEvent(body []byte, header http.Header) (Result, error) {
	const src = SourceCloudEvents
	var ces []cloudEvent
	ct := mediaType(header.Get("Content-Type"))
	switch {
	case ct == CloudEventsMediaType:
		ce, err := parseStructured(src, src, body)
		if err != nil {
			return Result{}, err
		}
		ces = []cloudEvent{ce}
	case ct == CloudEventsBatchMediaType:
		var err *DecodeError
		if ces, err = parseBatch(src, body); err != nil {
			return Result{}, err
		}
	case header.Get("Ce-Specversion") != "":
		ce, err := parseBinary(src, body, header)
		if err != nil {
			return Result{}, err
		}
		ces = []cloudEvent{ce}
	case looksStructured(body):
		ce, err := parseStructured(src, src, body)
		if err != nil {
			return Result{}, err
		}
		ces = []cloudEvent{ce}
	default:
		if err := checkJSON(src, "body", body); err != nil {
			return Result{}, err
		}
		return Result{}, errorf(src, "not a CloudEvent: no ce-specversion header, and Content-Type %s is not %s", quote(ct), CloudEventsMediaType)
	}
	var res Result
	for i, ce := range ces {
		ev, work, err := zotEvent(ce)
		if err != nil {
			return Result{}, errorf(src, "event %d (%s): %v", i, quote(ce.Type), err)
		}
		if !work {
			res.Ignored++
			continue
		}
		res.Events = append(res.Events, ev)
	}
	return res, nil
}

type zotData struct {
	Name      string `json:"name"`
	Reference string `json:"reference"`
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
}

// zotEvent maps one zot CloudEvent; work is false for events that need none.
func zotEvent(ce cloudEvent) (ev Event, work bool, err error) {
	var action Action
	switch {
	case hasTypeSuffix(ce.Type, ".image.updated"):
		action = Push
	case hasTypeSuffix(ce.Type, ".image.deleted"):
		action = Delete
	default: // repository.created, image.lint_failed, image.scanned, others
		return Event{}, false, nil
	}
	if ce.Data == nil {
		return Event{}, false, fmt.Errorf("missing data")
	}
	if firstByte(ce.Data) != '{' {
		return Event{}, false, fmt.Errorf("data is not an object")
	}
	var d zotData
	if err := unmarshal("data", ce.Data, &d); err != nil {
		return Event{}, false, errors.New(err.Reason)
	}
	ev = Event{
		ID:         ce.ID,
		Source:     SourceCloudEvents,
		Registry:   sourceHost(ce.Source),
		Repository: d.Name,
		Digest:     d.Digest,
		MediaType:  d.MediaType,
		Action:     action,
		Time:       ce.Time,
	}
	// reference is the tag, or the digest when the request named a digest
	// (tags cannot contain ':').
	byDigest := strings.Contains(d.Reference, ":")
	switch {
	case byDigest && ev.Digest == "":
		ev.Digest = d.Reference
	case byDigest && ev.Digest != d.Reference:
		return Event{}, false, fmt.Errorf("reference %s and digest %s differ", quote(d.Reference), quote(ev.Digest))
	case !byDigest:
		ev.Tag = d.Reference
	}
	if action == Delete && ev.Tag != "" {
		// DELETE by tag: zot removes the tag (and the manifest with it
		// only if no other tag names it).
		ev.Action = TagDelete
	}
	if ev.Time.IsZero() {
		return Event{}, false, fmt.Errorf("missing time")
	}
	if err := ev.Validate(); err != nil {
		return Event{}, false, err
	}
	return ev, true, nil
}

func hasTypeSuffix(t, suffix string) bool {
	return len(t) > len(suffix) && strings.HasSuffix(t, suffix)
}

// sourceHost is the host of a CloudEvent source that is a URL with a host,
// else the source itself.
func sourceHost(s string) string {
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		return u.Host
	}
	return s
}

// mediaType is the lower-cased media type of a Content-Type, without
// parameters.
func mediaType(ct string) string {
	if ct == "" {
		return ""
	}
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		return mt
	}
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// isJSONMediaType reports whether a datacontenttype says the data is JSON.
func isJSONMediaType(ct string) bool {
	mt := mediaType(ct)
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// looksStructured reports whether body is a JSON object with a
// "specversion" member.
func looksStructured(body []byte) bool {
	if checkJSON("", "", body) != nil || firstByte(body) != '{' {
		return false
	}
	var probe struct {
		SpecVersion *json.RawMessage `json:"specversion"`
	}
	return json.Unmarshal(body, &probe) == nil && probe.SpecVersion != nil
}

// parseStructured parses one structured-mode CloudEvent; prefix starts the
// reasons of its errors.
func parseStructured(src, prefix string, b []byte) (cloudEvent, *DecodeError) {
	if err := checkJSON(src, "body", b); err != nil {
		return cloudEvent{}, err
	}
	if firstByte(b) != '{' {
		return cloudEvent{}, &DecodeError{Reason: prefix + ": CloudEvent is not a JSON object"}
	}
	var env ceEnvelope
	if err := unmarshal(prefix, b, &env); err != nil {
		return cloudEvent{}, err
	}
	spec := ""
	if env.SpecVersion != nil {
		spec = *env.SpecVersion
	}
	ce, err := ceAttributes(prefix, false, spec, env.ID, env.Source, env.Type, env.Time)
	if err != nil {
		return cloudEvent{}, err
	}
	if env.DataContentType != "" && !isJSONMediaType(env.DataContentType) {
		return cloudEvent{}, &DecodeError{Reason: fmt.Sprintf("%s: unsupported datacontenttype %s, want JSON", prefix, quote(env.DataContentType))}
	}
	switch {
	case env.DataBase64 != nil && !isNull(env.Data):
		return cloudEvent{}, &DecodeError{Reason: prefix + ": both data and data_base64"}
	case env.DataBase64 != nil:
		data, derr := base64.StdEncoding.DecodeString(*env.DataBase64)
		if derr != nil {
			return cloudEvent{}, &DecodeError{Reason: prefix + ": data_base64 is not base64"}
		}
		if err := checkJSON(prefix, "data", data); err != nil {
			return cloudEvent{}, err
		}
		if !json.Valid(data) {
			return cloudEvent{}, &DecodeError{Reason: prefix + ": data_base64 is not JSON"}
		}
		ce.Data = data
	case firstByte(env.Data) == '"':
		// JSON data encoded once more as a JSON string.
		var s string
		if err := json.Unmarshal(env.Data, &s); err != nil {
			return cloudEvent{}, &DecodeError{Reason: prefix + ": data is not JSON"}
		}
		if err := checkJSON(prefix, "data", []byte(s)); err != nil {
			return cloudEvent{}, err
		}
		if !json.Valid([]byte(s)) {
			return cloudEvent{}, &DecodeError{Reason: prefix + ": data is a string that is not JSON"}
		}
		ce.Data = []byte(s)
	case !isNull(env.Data):
		ce.Data = env.Data
	}
	return ce, nil
}

// parseBatch parses a batch of structured-mode CloudEvents.
func parseBatch(src string, b []byte) ([]cloudEvent, *DecodeError) {
	if err := checkJSON(src, "body", b); err != nil {
		return nil, err
	}
	if firstByte(b) != '[' {
		return nil, errorf(src, "CloudEvents batch is not a JSON array")
	}
	var raws []json.RawMessage
	if err := unmarshal(src, b, &raws); err != nil {
		return nil, err
	}
	ces := make([]cloudEvent, 0, len(raws))
	for i, raw := range raws {
		ce, err := parseStructured(src, fmt.Sprintf("%s: event %d", src, i), raw)
		if err != nil {
			return nil, err
		}
		ces = append(ces, ce)
	}
	return ces, nil
}

// parseBinary parses a binary-mode CloudEvent: attributes in ce-* headers,
// data in the body.
func parseBinary(src string, body []byte, h http.Header) (cloudEvent, *DecodeError) {
	attr := func(name string) (string, *DecodeError) {
		v := h.Get("Ce-" + name)
		// The HTTP binding percent-encodes header values.
		u, err := url.PathUnescape(v)
		if err != nil {
			return "", errorf(src, "ce-%s header: bad percent-encoding", strings.ToLower(name))
		}
		return u, nil
	}
	var vals [5]string
	for i, name := range []string{"Specversion", "Id", "Source", "Type", "Time"} {
		v, err := attr(name)
		if err != nil {
			return cloudEvent{}, err
		}
		vals[i] = v
	}
	ce, err := ceAttributes(src, true, vals[0], vals[1], vals[2], vals[3], vals[4])
	if err != nil {
		return cloudEvent{}, err
	}
	if len(body) == 0 {
		return ce, nil
	}
	if ct := h.Get("Content-Type"); ct != "" && !isJSONMediaType(ct) {
		return cloudEvent{}, errorf(src, "unsupported data Content-Type %s, want JSON", quote(ct))
	}
	if err := checkJSON(src, "body", body); err != nil {
		return cloudEvent{}, err
	}
	if !json.Valid(body) {
		var v any
		return cloudEvent{}, unmarshal(src, body, &v)
	}
	ce.Data = body
	return ce, nil
}

// ceAttributes checks the required attributes of a CloudEvent 1.0 and parses
// its time; binary says they came from ce-* headers (for the reasons).
func ceAttributes(prefix string, binary bool, spec, id, source, typ, ts string) (cloudEvent, *DecodeError) {
	name := func(attr string) string {
		if binary {
			return "ce-" + attr + " header"
		}
		return `"` + attr + `"`
	}
	fail := func(format string, args ...any) (cloudEvent, *DecodeError) {
		return cloudEvent{}, &DecodeError{Reason: prefix + ": " + fmt.Sprintf(format, args...)}
	}
	switch {
	case spec == "":
		return fail("missing %s", name("specversion"))
	case spec != "1.0":
		return fail("unsupported %s %s, want \"1.0\"", name("specversion"), quote(spec))
	case id == "":
		return fail("missing %s", name("id"))
	case source == "":
		return fail("missing %s", name("source"))
	case typ == "":
		return fail("missing %s", name("type"))
	}
	ce := cloudEvent{ID: id, Source: source, Type: typ}
	if ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return fail("invalid %s %s", name("time"), quote(ts))
		}
		ce.Time = t.UTC()
	}
	return ce, nil
}
