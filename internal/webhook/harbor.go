package webhook

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

type harborResource struct {
	Digest      string `json:"digest"`
	Tag         string `json:"tag"`
	ResourceURL string `json:"resource_url"`
}

type harborRepository struct {
	Name         string `json:"name"`
	Namespace    string `json:"namespace"`
	RepoFullName string `json:"repo_full_name"`
}

// harborData is Harbor's event_data (Default format) and data (CloudEvents).
type harborData struct {
	Resources  []harborResource  `json:"resources"`
	Repository *harborRepository `json:"repository"`
}

type harborDefault struct {
	Type      string      `json:"type"`
	OccurAt   int64       `json:"occur_at"`
	EventData *harborData `json:"event_data"`
	// EventType is the type member of Harbor 1.x's documented format,
	// {"event_type":"pushImage","events":[...]}.
	EventType json.RawMessage `json:"event_type"`
}

// harbor1Types are the event types of Harbor 1.x (1.10's
// src/pkg/notification/model/const.go, 1.9's testPolicy); Harbor 2.x renamed
// them all (PUSH_ARTIFACT, ...).
var harbor1Types = map[string]bool{
	"pushImage": true, "pullImage": true, "deleteImage": true,
	"uploadChart": true, "deleteChart": true, "downloadChart": true,
	"scanningCompleted": true, "scanningFailed": true, "projectQuota": true,
	"replication": true, "testEndpoint": true, "testPolicy": true,
}

// harbor1 names what marks p as a Harbor 1.x payload (`type "pushImage"`),
// "" when nothing does.
func harbor1(p harborDefault) string {
	if harbor1Types[p.Type] {
		return "type " + quote(p.Type)
	}
	var et string
	if p.Type == "" && json.Unmarshal(p.EventType, &et) == nil && et != "" {
		return "event_type " + quote(et)
	}
	return ""
}

// DecodeHarbor decodes a Harbor webhook body in either payload format:
//
//   - Default: {"type":"PUSH_ARTIFACT","occur_at":...,"operator":...,
//     "event_data":{"resources":[...],"repository":{...}}};
//   - CloudEvents (Harbor 2.8 and later): a structured-mode CloudEvent, sent
//     with Content-Type application/cloudevents+json (a body with a
//     "specversion" member is taken as one whatever contentType says), of type
//     "harbor.artifact.pushed", "harbor.artifact.deleted", ..., whose data is
//     the Default format's event_data.
//
// contentType is the request's Content-Type header. Each resource of an
// artifact push is a Push and of an artifact delete a Delete; the resources of
// every other event type (pulls, scans, quotas, replication, retention) are
// counted in Result.Ignored. Harbor 1.x payloads (event types such as
// "pushImage") are not supported: they are a *DecodeError saying so.
func DecodeHarbor(body []byte, contentType string) (Result, error) {
	const src = SourceHarbor
	if mediaType(contentType) == CloudEventsMediaType || looksStructured(body) {
		return decodeHarborCloudEvent(body)
	}
	if err := checkJSON(src, "body", body); err != nil {
		return Result{}, err
	}
	var p harborDefault
	if err := unmarshal(src, body, &p); err != nil {
		return Result{}, err
	}
	if v1 := harbor1(p); v1 != "" {
		return Result{}, errorf(src, "Harbor 1.x payload (%s) is not supported; upgrade to Harbor 2.x", v1)
	}
	var action Action
	switch p.Type {
	case "":
		return Result{}, errorf(src, `missing "type"`)
	case "PUSH_ARTIFACT":
		action = Push
	case "DELETE_ARTIFACT":
		action = Delete
	default:
		return Result{Ignored: harborIgnored(p.EventData)}, nil
	}
	if p.OccurAt <= 0 {
		return Result{}, errorf(src, "%s: missing occur_at", p.Type)
	}
	var ids []string
	if p.EventData != nil {
		var err error
		if ids, err = harborPayloadDigests(body, len(p.EventData.Resources)); err != nil {
			return Result{}, errorf(src, "%s: %v", p.Type, err)
		}
	}
	t := time.Unix(p.OccurAt, 0).UTC()
	return harborEvents(body, p.Type, action, p.EventData, t, func(i int) string { return ids[i] })
}

func decodeHarborCloudEvent(body []byte) (Result, error) {
	const src = SourceHarbor
	ce, err := parseStructured(src, src, body)
	if err != nil {
		return Result{}, err
	}
	var action Action
	switch ce.Type {
	case "harbor.artifact.pushed":
		action = Push
	case "harbor.artifact.deleted":
		action = Delete
	}
	var data *harborData
	if ce.Data != nil {
		if firstByte(ce.Data) != '{' {
			if action == "" {
				return Result{Ignored: 1}, nil
			}
			return Result{}, errorf(src, "%s: data is not an object", ce.Type)
		}
		data = new(harborData)
		if err := unmarshal(src+": "+ce.Type+": data", ce.Data, data); err != nil {
			if action == "" {
				return Result{Ignored: 1}, nil
			}
			return Result{}, err
		}
	}
	if action == "" {
		return Result{Ignored: harborIgnored(data)}, nil
	}
	if ce.Time.IsZero() {
		return Result{}, errorf(src, "%s: missing time", ce.Type)
	}
	return harborEvents(body, ce.Type, action, data, ce.Time, func(i int) string {
		if data != nil && len(data.Resources) > 1 {
			return fmt.Sprintf("%s#%d", ce.ID, i)
		}
		return ce.ID
	})
}

// harborIgnored counts the events of a payload that needs no work: one per
// resource, at least one.
func harborIgnored(d *harborData) int {
	if d == nil || len(d.Resources) == 0 {
		return 1
	}
	return len(d.Resources)
}

// harborEvents makes one event per resource of an artifact push or delete;
// a resource that cannot be used is rejected with the whole body (decoding
// it again yields the others too, which are then duplicates).
func harborEvents(body []byte, typ string, action Action, d *harborData, t time.Time, id func(int) string) (Result, error) {
	const src = SourceHarbor
	if d == nil {
		return Result{}, errorf(src, "%s: missing event data", typ)
	}
	if len(d.Resources) == 0 {
		return Result{}, errorf(src, "%s: no resources", typ)
	}
	repo := ""
	if d.Repository != nil {
		repo = d.Repository.RepoFullName
		if repo == "" && d.Repository.Namespace != "" && d.Repository.Name != "" {
			repo = d.Repository.Namespace + "/" + d.Repository.Name
		}
	}
	var res Result
	for i, r := range d.Resources {
		ev := Event{
			ID:         id(i),
			Source:     src,
			Registry:   resourceHost(r.ResourceURL),
			Repository: repo,
			Digest:     r.Digest,
			Action:     action,
			Time:       t,
		}
		// Harbor sets tag to the digest when the artifact has no tag.
		if action == Push && r.Tag != r.Digest {
			ev.Tag = r.Tag
		}
		if err := ev.Validate(); err != nil {
			res.Rejected = append(res.Rejected, Rejected{Body: body, Reason: errorf(src, "event %d (%s): %v", i, typ, err).Reason})
			continue
		}
		res.Events = append(res.Events, ev)
	}
	return res, nil
}

// resourceHost is the registry host of a Harbor resource_url,
// "harbor.example.com/library/app:v1" (no scheme, but strip one if present).
func resourceHost(u string) string {
	if _, rest, ok := strings.Cut(u, "://"); ok {
		u = rest
	}
	host, _, _ := strings.Cut(u, "/")
	return host
}

// harborPayloadDigests computes the ID of each of the n resource events of a
// Default-format body: the payload digest of the body with
// event_data.resources cut down to that one resource.
func harborPayloadDigests(body []byte, n int) ([]string, error) {
	v, err := generic(body)
	if err != nil {
		return nil, err
	}
	top, _ := v.(map[string]any)
	data, _ := top["event_data"].(map[string]any)
	resources, _ := data["resources"].([]any)
	if len(resources) != n {
		return nil, fmt.Errorf(`cannot canonicalise the payload: want "event_data" with "resources"`)
	}
	ids := make([]string, n)
	for i := range n {
		data["resources"] = []any{resources[i]}
		if ids[i], err = payloadDigest(top); err != nil {
			return nil, err
		}
	}
	return ids, nil
}
