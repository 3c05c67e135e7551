package webhook

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// DistributionMediaType is the Content-Type of distribution's notification
// envelope. The receiver should accept application/json too.
const DistributionMediaType = "application/vnd.docker.distribution.events.v2+json"

type distEnvelope struct {
	Events json.RawMessage `json:"events"`
}

type distEvent struct {
	ID        string `json:"id"`
	Timestamp string `json:"timestamp"`
	Action    string `json:"action"`
	Target    struct {
		MediaType  string `json:"mediaType"`
		Digest     string `json:"digest"`
		Repository string `json:"repository"`
		URL        string `json:"url"`
		Tag        string `json:"tag"`
	} `json:"target"`
	Request struct {
		Host string `json:"host"`
	} `json:"request"`
}

// DecodeDistribution decodes a CNCF distribution notification body, the
// envelope {"events":[...]} (Content-Type
// application/vnd.docker.distribution.events.v2+json), into the events that
// need work: manifest and index pushes, manifest deletes and tag deletes.
// Blob pushes and mounts, pulls, repository deletes and unknown actions are
// counted in Result.Ignored. An event that needs work but is malformed is
// in Result.Rejected, as an envelope of its own, and the others are used.
func DecodeDistribution(body []byte) (Result, error) {
	const src = SourceDistribution
	if err := checkJSON(src, "body", body); err != nil {
		return Result{}, err
	}
	var env distEnvelope
	if err := unmarshal(src, body, &env); err != nil {
		return Result{}, err
	}
	if len(env.Events) == 0 {
		return Result{}, errorf(src, `no "events" array`)
	}
	if firstByte(env.Events) != '[' {
		return Result{}, errorf(src, `"events" is not an array`)
	}
	var raws []json.RawMessage
	if err := unmarshal(src, env.Events, &raws); err != nil {
		return Result{}, err
	}
	var res Result
	reject := func(raw json.RawMessage, reason string) {
		res.Rejected = append(res.Rejected, Rejected{Body: append(append([]byte(`{"events":[`), raw...), "]}"...), Reason: reason})
	}
	for i, raw := range raws {
		prefix := fmt.Sprintf("%s: event %d", src, i)
		if firstByte(raw) != '{' {
			reject(raw, prefix+" is not an object")
			continue
		}
		var de distEvent
		if err := unmarshal(prefix, raw, &de); err != nil {
			reject(raw, err.Error())
			continue
		}
		ev, work, err := distributionEvent(de)
		if err != nil {
			if de.Action != "" {
				prefix += " (" + de.Action + ")"
			}
			reject(raw, fmt.Sprintf("%s: %v", prefix, err))
			continue
		}
		if !work {
			res.Ignored++
			continue
		}
		res.Events = append(res.Events, ev)
	}
	return res, nil
}

// distributionEvent maps one event; work is false for events that need none.
func distributionEvent(de distEvent) (ev Event, work bool, err error) {
	t := de.Target
	switch de.Action {
	case "":
		return Event{}, false, fmt.Errorf("missing action")
	case "push":
		if !isManifestTarget(t.URL, t.MediaType) {
			return Event{}, false, nil
		}
		ev = Event{Action: Push, Digest: t.Digest, Tag: t.Tag, MediaType: t.MediaType}
		if t.Digest == "" {
			return Event{}, false, fmt.Errorf("missing digest")
		}
	case "delete":
		switch {
		case t.Digest != "":
			ev = Event{Action: Delete, Digest: t.Digest}
		case t.Tag != "":
			ev = Event{Action: TagDelete, Tag: t.Tag}
		default:
			// distribution's RepoDeleted: not an action layerq has.
			return Event{}, false, nil
		}
	default: // pull, mount, and actions added later
		return Event{}, false, nil
	}
	ev.Source = SourceDistribution
	ev.ID = de.ID
	ev.Repository = t.Repository
	ev.Registry = de.Request.Host
	if ev.Registry == "" && t.URL != "" {
		if u, perr := url.Parse(t.URL); perr == nil {
			ev.Registry = u.Host
		}
	}
	if de.Timestamp == "" {
		return Event{}, false, fmt.Errorf("missing timestamp")
	}
	ts, perr := time.Parse(time.RFC3339Nano, de.Timestamp)
	if perr != nil {
		return Event{}, false, fmt.Errorf("invalid timestamp %s", quote(de.Timestamp))
	}
	ev.Time = ts.UTC()
	if err := ev.Validate(); err != nil {
		return Event{}, false, err
	}
	return ev, true, nil
}

// Blob media types distribution reports for blob events.
var blobMediaTypePrefixes = []string{
	"application/octet-stream",
	"application/vnd.oci.image.layer.",
	"application/vnd.oci.image.config.",
	"application/vnd.oci.empty.",
	"application/vnd.docker.image.rootfs.",
	"application/vnd.docker.container.image.",
	"application/vnd.docker.plugin.",
}

// isManifestTarget reports whether a pushed target is a manifest (or index)
// rather than a blob: distribution builds the target URL with /manifests/ for
// manifests and /blobs/ for blobs; without a URL, the media type decides.
func isManifestTarget(rawURL, mediaType string) bool {
	if u, err := url.Parse(rawURL); err == nil && u.Path != "" {
		switch {
		case strings.Contains(u.Path, "/blobs/"):
			return false
		case strings.Contains(u.Path, "/manifests/"):
			return true
		}
	}
	mt := strings.ToLower(mediaType)
	for _, p := range blobMediaTypePrefixes {
		if strings.HasPrefix(mt, p) {
			return false
		}
	}
	return strings.Contains(mt, "manifest") || strings.Contains(mt, "index")
}
