package webhook

import (
	"encoding/json"
	"math"
	"strings"
	"time"
)

type dockerHubPayload struct {
	CallbackURL string `json:"callback_url"`
	PushData    *struct {
		PushedAt json.RawMessage `json:"pushed_at"`
		Pusher   string          `json:"pusher"`
		Tag      string          `json:"tag"`
	} `json:"push_data"`
	Repository *struct {
		RepoName  string `json:"repo_name"`
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"repository"`
}

// DecodeDockerHub decodes a Docker Hub repository webhook body,
// {"callback_url":...,"push_data":{"pushed_at":...,"pusher":...,"tag":...},
// "repository":{"repo_name":...,...}}. Docker Hub sends only pushes, and
// names the tag but not the digest, so the one event is a Push with an empty
// Digest: the worker resolves the tag. Registry is "docker.io"; a repo_name
// without a namespace (an official image) becomes "library/<name>". ID is the
// payload digest; pushed_at (unix seconds) is the time.
func DecodeDockerHub(body []byte) (Result, error) {
	const src = SourceDockerHub
	if err := checkJSON(src, "body", body); err != nil {
		return Result{}, err
	}
	var p dockerHubPayload
	if err := unmarshal(src, body, &p); err != nil {
		return Result{}, err
	}
	switch {
	case p.PushData == nil:
		return Result{}, errorf(src, `missing "push_data"`)
	case p.Repository == nil:
		return Result{}, errorf(src, `missing "repository"`)
	}
	repo := p.Repository.RepoName
	if repo == "" && p.Repository.Name != "" {
		repo = p.Repository.Name
		if p.Repository.Namespace != "" {
			repo = p.Repository.Namespace + "/" + repo
		}
	}
	if repo != "" && !strings.Contains(repo, "/") {
		repo = "library/" + repo
	}
	if p.PushData.Tag == "" {
		return Result{}, errorf(src, "push_data: missing tag")
	}
	if isNull(p.PushData.PushedAt) {
		return Result{}, errorf(src, "push_data: missing pushed_at")
	}
	t, ok := unixTime(p.PushData.PushedAt)
	if !ok {
		return Result{}, errorf(src, "push_data: invalid pushed_at %s", quote(string(p.PushData.PushedAt)))
	}
	v, err := generic(body)
	if err != nil {
		return Result{}, errorf(src, "malformed JSON: %v", err)
	}
	id, err := payloadDigest(v)
	if err != nil {
		return Result{}, errorf(src, "cannot canonicalise the payload: %v", err)
	}
	ev := Event{
		ID:         id,
		Source:     src,
		Registry:   DockerHubRegistry,
		Repository: repo,
		Tag:        p.PushData.Tag,
		Action:     Push,
		Time:       t,
	}
	if err := ev.Validate(); err != nil {
		return Result{}, errorf(src, "event 0 (push): %v", err)
	}
	return Result{Events: []Event{ev}}, nil
}

// unixTime converts a JSON number of unix seconds, integer or not (Docker Hub
// has sent both 1417566161 and 1.417566161e+09), to a time; ok is false for
// anything else and for non-positive or absurd values.
func unixTime(raw json.RawMessage) (time.Time, bool) {
	if c := firstByte(raw); c != '-' && (c < '0' || c > '9') {
		return time.Time{}, false // a string, an object, ...
	}
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f <= 0 || f >= 1e11 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), true
}
