// Package webhook turns the webhook payloads of container registries into
// layerq's one internal event type, [Event].
//
// Every decoder is a pure function of the request body (and, where the format
// needs them, the request headers): no I/O, no clock, no globals. The HTTP
// receiver reads the body (it enforces the size limit), picks the decoder for
// the endpoint the registry was configured with, and answers:
//
//   - a nil error: 2xx; queue Result.Events (possibly none) and count
//     Result.Ignored;
//   - a *DecodeError: the body as a whole cannot be read (not JSON, not the
//     source's envelope), with Error() as the one-line reason; nothing in it
//     was accepted;
//   - Result.Rejected: events of a well-formed body that cannot be used (an
//     event that needs work but is invalid), each with a body that decodes
//     to it alone, so it can be kept aside and decoded again later, while
//     the rest of the body is used.
//
// Every error the decoders return is a *DecodeError, and every Event they
// return passes [Event.Validate].
//
// # Sources
//
// [DecodeDistribution]: CNCF distribution (registry v3) notifications, the
// envelope {"events":[...]}. A push of a manifest or index (its target URL
// names /manifests/, or its media type is a manifest or index type) is a
// [Push], with the tag when pushed by tag; a push or mount of a blob and every
// pull are ignored. A delete with a digest is a [Delete]; a delete with a tag
// and no digest is a [TagDelete]; a delete with neither is distribution's
// repository-deleted event, which layerq cannot represent and ignores (the next
// scan reconciles). ID is the event id, Registry is request.host (else the host
// of target.url).
//
// [DecodeHarbor]: Harbor's Default payload ({"type":"PUSH_ARTIFACT",...}) and
// its CloudEvents payload (type "harbor.artifact.pushed", ...), one Event per
// event_data.resources entry. PUSH_ARTIFACT is a [Push] (tag and digest;
// Harbor names an untagged push by setting tag to the digest, which becomes an
// empty Tag); DELETE_ARTIFACT is a [Delete] of the digest (Harbor deletes the
// artifact with all its tags); every other type is ignored. Registry is the
// host of resource_url. ID is the CloudEvent id; the Default payload has none,
// so its ID is the payload digest (see below).
//
// [DecodeDockerHub]: Docker Hub's push webhook. It names a tag and no digest,
// so it is a [Push] with an empty Digest: the worker resolves the tag.
// Registry is "docker.io"; a repository without a namespace is an official
// image, "library/<name>". ID is the payload digest.
//
// [DecodeCloudEvent]: zot's events extension (CloudEvents 1.0 in HTTP
// structured, batched or binary mode). "zotregistry.image.updated" is a [Push]
// (reference is the tag, or the digest when pushed by digest);
// "zotregistry.image.deleted" is a [Delete] when its reference is a digest and
// a [TagDelete] (with the digest the tag named) when it is a tag; every other
// type is ignored. A zot configured with its own type prefix is understood too
// ("<prefix>.image.updated"). ID is the CloudEvent id; Registry is the host of
// the CloudEvent source when it is a URL, else the source itself. zot's
// default source is the constant "zotregistry.dev", the same for every zot, so
// configure zot's event source as the registry URL, or have the receiver set
// Registry for that endpoint.
//
// # Payload digests
//
// Where a source gives no event id, ID is "sha256:" and the hex SHA-256 of
// the canonical JSON of that one event's payload: the body re-encoded with
// object keys sorted, no insignificant white space and numbers as written (for
// Harbor's Default payload, with event_data.resources cut down to the one
// resource the event is about). A redelivery of the same payload has the same
// ID however it is formatted.
package webhook

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Action is what an event asks layerq to do.
type Action string

// The actions an Event can carry.
const (
	// Push is a manifest pushed; Tag is "" when it was pushed by digest, and
	// Digest is "" when the source names only the tag (Docker Hub).
	Push Action = "push"
	// Delete is a manifest deleted by digest from one repository.
	Delete Action = "delete"
	// TagDelete is a tag deleted; Digest, when set, is the manifest the tag
	// named.
	TagDelete Action = "tag_delete"
)

// The Source values of the events each decoder returns.
const (
	// SourceDistribution marks events from DecodeDistribution.
	SourceDistribution = "distribution"
	// SourceHarbor marks events from DecodeHarbor.
	SourceHarbor = "harbor"
	// SourceDockerHub marks events from DecodeDockerHub.
	SourceDockerHub = "dockerhub"
	// SourceCloudEvents marks events from DecodeCloudEvent.
	SourceCloudEvents = "cloudevents"
)

// DockerHubRegistry is the Registry of every Docker Hub event.
const DockerHubRegistry = "docker.io"

// Event is one registry event, whatever the source.
type Event struct {
	// ID is the registry's event id; when the source has none, "sha256:" and
	// the hex digest of the canonical payload of that one event.
	ID string `json:"id"`
	// Source is the decoder that produced the event: "distribution",
	// "harbor", "dockerhub" or "cloudevents".
	Source string `json:"source"`
	// Registry is the registry host as the event names it, with the port if
	// any and without scheme or path (e.g. "127.0.0.1:5000",
	// "harbor.example.com", "docker.io"), as the decoders return it; once
	// the receiver has attributed the event to a configured registry, that
	// registry's name.
	Registry string `json:"registry"`
	// Host is the registry host the event named when the receiver
	// attributed it to a configured registry ("" when decoded): the name
	// the pushing client used, recorded as an alias when it is new.
	Host string `json:"host,omitempty"`
	// Repository is the repository name within the registry, e.g.
	// "library/base".
	Repository string `json:"repository"`
	// Digest is the manifest digest, "" when the source does not name it.
	Digest string `json:"digest,omitempty"`
	// Tag is the tag, "" when the event is not about a tag.
	Tag string `json:"tag,omitempty"`
	// MediaType is the manifest media type when the source names it.
	MediaType string `json:"media_type,omitempty"`
	// Action is what the event asks layerq to do.
	Action Action `json:"action"`
	// Time is when the registry says the event happened, in UTC.
	Time time.Time `json:"time"`
}

// Result is the outcome of decoding one request body.
type Result struct {
	// Events are the events that need work, in body order.
	Events []Event
	// Ignored counts the well-formed events that need no work: pulls, blob
	// pushes and mounts, and event types layerq does not act on.
	Ignored int
	// Rejected are the events that need work but cannot be used, in body
	// order.
	Rejected []Rejected
}

// Rejected is an event of a well-formed body that cannot be used.
type Rejected struct {
	// Body decodes, with the request's headers, to this event alone (for
	// distribution, an envelope holding only it; for Harbor, whose body is
	// one event, the body).
	Body []byte
	// Reason is one line, starting with the source.
	Reason string
}

// DecodeError reports a body that is malformed or of the wrong shape, or that
// carries an event layerq would act on but cannot because it is invalid. The
// receiver answers 400 with Error() as the reason.
type DecodeError struct {
	// Reason is one line, starting with the source ("distribution: ...").
	Reason string
}

// Error returns Reason.
func (e *DecodeError) Error() string { return e.Reason }

// Limits of the names Validate accepts.
const (
	// MaxRepositoryLength is the longest repository name (distribution's
	// limit).
	MaxRepositoryLength = 255
	// MaxIDLength is the longest event ID.
	MaxIDLength = 255
)

const maxHostLength = 255

const (
	repoComp = `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
	hostComp = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
)

// nameChecks are the patterns of well-formed names, compiled at their first
// use: their bounded repetitions make large programs, 3.5 ms of every
// start of a process that imports this package (every layerq-ingest
// command) when they were compiled at its init.
var nameChecks = sync.OnceValue(func() *nameRegexps {
	return &nameRegexps{
		digest:     regexp.MustCompile(`^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$`),
		tag:        regexp.MustCompile(`^[\w][\w.-]{0,127}$`),
		repository: regexp.MustCompile(`^` + repoComp + `(?:/` + repoComp + `)*$`),
		host:       regexp.MustCompile(`^(?:` + hostComp + `(?:\.` + hostComp + `)*|\[[a-fA-F0-9:]+\])(?::([0-9]{1,5}))?$`),
		mediaType:  regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$`),
	}
})

// nameRegexps match a whole digest, tag, repository name, registry host
// (its port a submatch) and media type.
type nameRegexps struct{ digest, tag, repository, host, mediaType *regexp.Regexp }

// Validate checks that the event has what its action needs and that every
// name in it is well formed:
//
//   - ID: 1 to 255 bytes, no control characters; Source: one of the four
//     decoders'; Time: set;
//   - Registry: a host (DNS name, IPv4 or bracketed IPv6) with an optional
//     port, without scheme or path;
//   - Repository: set, matching the distribution grammar (lower-case
//     components separated by "/", at most 255 characters);
//   - Push: a digest or a tag; Delete: a digest; TagDelete: a tag;
//   - Digest when set: "sha256:" and 64 lower-case hex digits, or "sha512:"
//     and 128; Tag when set: [\w][\w.-]{0,127}; MediaType when set: type/subtype
//     without parameters.
func (e Event) Validate() error {
	switch {
	case e.ID == "":
		return fmt.Errorf("missing id")
	case len(e.ID) > MaxIDLength || !utf8.ValidString(e.ID) || strings.IndexFunc(e.ID, unicode.IsControl) >= 0:
		return fmt.Errorf("invalid id %s", quote(e.ID))
	}
	switch e.Source {
	case SourceDistribution, SourceHarbor, SourceDockerHub, SourceCloudEvents:
	default:
		return fmt.Errorf("unknown source %s", quote(e.Source))
	}
	if err := validateHost(e.Registry); err != nil {
		return err
	}
	if e.Host != "" {
		if err := validateHost(e.Host); err != nil {
			return err
		}
	}
	if e.Repository == "" {
		return fmt.Errorf("missing repository")
	}
	if len(e.Repository) > MaxRepositoryLength || !nameChecks().repository.MatchString(e.Repository) {
		return fmt.Errorf("invalid repository name %s", quote(e.Repository))
	}
	switch e.Action {
	case Push:
		if e.Digest == "" && e.Tag == "" {
			return fmt.Errorf("push needs a digest or a tag")
		}
	case Delete:
		if e.Digest == "" {
			return fmt.Errorf("delete needs a digest")
		}
	case TagDelete:
		if e.Tag == "" {
			return fmt.Errorf("tag_delete needs a tag")
		}
	default:
		return fmt.Errorf("unknown action %s", quote(string(e.Action)))
	}
	if e.Digest != "" && !nameChecks().digest.MatchString(e.Digest) {
		return fmt.Errorf("invalid digest %s", quote(e.Digest))
	}
	if e.Tag != "" && !nameChecks().tag.MatchString(e.Tag) {
		return fmt.Errorf("invalid tag %s", quote(e.Tag))
	}
	if e.MediaType != "" && !nameChecks().mediaType.MatchString(e.MediaType) {
		return fmt.Errorf("invalid media type %s", quote(e.MediaType))
	}
	if e.Time.IsZero() {
		return fmt.Errorf("missing time")
	}
	return nil
}

func validateHost(h string) error {
	if h == "" {
		return fmt.Errorf("missing registry host")
	}
	m := nameChecks().host.FindStringSubmatch(h)
	if len(h) > maxHostLength || m == nil || (m[1] != "" && !validPort(m[1])) {
		return fmt.Errorf("invalid registry host %s (want host[:port], no scheme or path)", quote(h))
	}
	return nil
}

func validPort(p string) bool {
	n := 0
	for _, c := range p {
		n = n*10 + int(c-'0')
	}
	return n >= 1 && n <= 65535
}

// isDigest reports whether s is a digest Validate accepts.
func isDigest(s string) bool { return nameChecks().digest.MatchString(s) }

// quote quotes s for an error reason: one line, at most maxQuoted bytes of s.
func quote(s string) string {
	const maxQuoted = 80
	if len(s) <= maxQuoted {
		return fmt.Sprintf("%q", s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q…", s[:cut])
}
