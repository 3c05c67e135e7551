package walker

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/layerq/layerq/internal/jsonscan"
)

// The walker decodes a manifest once, into manifestDoc, and a config into
// configDoc, which hold only what layerq reads, in up to three steps, each
// taking over only when the one before gives up:
//
//  1. fastManifest and fastConfig (below, reading with package jsonscan)
//     decode common documents exactly as json.Unmarshal would into
//     manifestDoc and configDoc, without reflection.
//  2. json.Unmarshal decodes into manifestDoc and configDoc. Their types are
//     as strict as go-containerregistry's (digests are checked by
//     v1.NewHash, descriptors and platforms decode every field v1.Descriptor
//     and v1.Platform do) or stricter (a digest written with JSON escapes is
//     refused), so a manifest they accept decodes the same with
//     go-containerregistry's types. configDoc holds only platform, created,
//     labels, diff_ids and history: the rest of a config is not decoded, so
//     a config with, say, a malformed Env is no longer refused.
//  3. The decoding the walker always did (sniff, then v1.IndexManifest,
//     v1.Manifest or the artifact manifest; v1.ParseConfigFile), which then
//     accepts the document or says what is wrong with it as before.

// manifestDoc is the union of what layerq reads from an image manifest, an
// index and an OCI artifact manifest. Config and Manifests stay raw: their
// presence, even as null, tells an OCI image from an index that omits its
// mediaType (as sniff does).
type manifestDoc struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        json.RawMessage   `json:"config"`
	Manifests     json.RawMessage   `json:"manifests"`
	Layers        []descriptor      `json:"layers"`
	Blobs         []descriptor      `json:"blobs"`
	Subject       *descriptor       `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// descriptor is v1.Descriptor with a cheaper digest.
type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Size         int64             `json:"size"`
	Digest       digest            `json:"digest"`
	Data         []byte            `json:"data,omitempty"`
	URLs         []string          `json:"urls,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Platform     *v1.Platform      `json:"platform,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
}

// digest is a digest as v1.Hash accepts it, kept as the string it was
// written as (which is what v1.Hash.String gives back).
type digest string

// errDecodeAgain makes the fast decoding give up on a document it does not
// handle itself; the slow path then decides.
var errDecodeAgain = errors.New("walker: decode with go-containerregistry's types")

func (d *digest) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' || bytes.IndexByte(b, '\\') >= 0 {
		return errDecodeAgain
	}
	s := string(b[1 : len(b)-1])
	if _, err := v1.NewHash(s); err != nil {
		return err
	}
	*d = digest(s)
	return nil
}

// String is the descriptor's digest as v1.Hash.String gives it: ":" when
// the descriptor has none.
func (d descriptor) String() string {
	if d.Digest == "" {
		return ":"
	}
	return string(d.Digest)
}

// fromV1 converts a descriptor decoded by the slow path.
func fromV1(d v1.Descriptor) descriptor {
	return descriptor{MediaType: string(d.MediaType), Size: d.Size, Digest: digest(d.Digest.String()),
		Data: d.Data, URLs: d.URLs, Annotations: d.Annotations, Platform: d.Platform, ArtifactType: d.ArtifactType}
}

func fromV1s(ds []v1.Descriptor) []descriptor {
	if ds == nil {
		return nil
	}
	out := make([]descriptor, len(ds))
	for i, d := range ds {
		out[i] = fromV1(d)
	}
	return out
}

func fromV1Ptr(d *v1.Descriptor) *descriptor {
	if d == nil {
		return nil
	}
	c := fromV1(*d)
	return &c
}

// readManifest decodes a manifest and says what it is: its media type (see
// sniff) and schema version. doc is nil when the fast decoding gave up; the
// kind-specific decoding then starts again from raw.
func readManifest(raw []byte, contentType string) (doc *manifestDoc, mediaType string, schemaVersion int, err error) {
	d, ok := fastManifest(raw)
	if !ok {
		d = &manifestDoc{}
		ok = json.Unmarshal(raw, d) == nil
	}
	if ok {
		return d, mediaTypeOf(d.MediaType, contentType, d.Manifests != nil, d.Config != nil), d.SchemaVersion, nil
	}
	mediaType, schemaVersion, err = sniff(raw, contentType)
	return nil, mediaType, schemaVersion, err
}

// sniff reads the media type and schema version a manifest declares. The
// body's own mediaType wins over the Content-Type header, which registries
// sometimes send as plain application/json.
func sniff(raw []byte, contentType string) (mediaType string, schemaVersion int, err error) {
	var head struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Manifests     json.RawMessage `json:"manifests"`
		Config        json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return "", 0, err
	}
	return mediaTypeOf(head.MediaType, contentType, head.Manifests != nil, head.Config != nil), head.SchemaVersion, nil
}

func mediaTypeOf(declared, contentType string, hasManifests, hasConfig bool) string {
	mediaType := declared
	if mediaType == "" {
		mediaType = contentType
	}
	if mediaType == "" || mediaType == "application/json" {
		// An OCI manifest may omit mediaType; tell index from image by shape.
		switch {
		case hasManifests:
			mediaType = "application/vnd.oci.image.index.v1+json"
		case hasConfig:
			mediaType = "application/vnd.oci.image.manifest.v1+json"
		}
	}
	return mediaType
}

// indexDoc is what layerq reads from an index.
type indexDoc struct {
	ArtifactType string
	Annotations  map[string]string
	Subject      *descriptor
	Manifests    []descriptor
}

func readIndex(raw []byte, doc *manifestDoc) (indexDoc, error) {
	if doc != nil {
		var entries []descriptor
		if doc.Manifests == nil || json.Unmarshal(doc.Manifests, &entries) == nil {
			return indexDoc{ArtifactType: doc.ArtifactType, Annotations: doc.Annotations, Subject: doc.Subject, Manifests: entries}, nil
		}
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		return indexDoc{}, err
	}
	return indexDoc{ArtifactType: idx.ArtifactType, Annotations: idx.Annotations, Subject: fromV1Ptr(idx.Subject), Manifests: fromV1s(idx.Manifests)}, nil
}

// imageDoc is what layerq reads from an image manifest.
type imageDoc struct {
	ArtifactType string
	Annotations  map[string]string
	Subject      *descriptor
	Config       descriptor
	Layers       []descriptor
}

func readImage(raw []byte, doc *manifestDoc) (imageDoc, error) {
	if doc != nil {
		var cfg descriptor
		ok := doc.Config == nil || fastDescriptor(doc.Config, &cfg)
		if !ok {
			cfg = descriptor{}
			ok = json.Unmarshal(doc.Config, &cfg) == nil
		}
		if ok {
			return imageDoc{ArtifactType: doc.ArtifactType, Annotations: doc.Annotations, Subject: doc.Subject, Config: cfg, Layers: doc.Layers}, nil
		}
	}
	var man v1.Manifest
	if err := json.Unmarshal(raw, &man); err != nil {
		return imageDoc{}, err
	}
	return imageDoc{ArtifactType: man.ArtifactType, Annotations: man.Annotations, Subject: fromV1Ptr(man.Subject), Config: fromV1(man.Config), Layers: fromV1s(man.Layers)}, nil
}

// artifactDoc is what layerq reads from an OCI artifact manifest.
type artifactDoc struct {
	ArtifactType string
	Annotations  map[string]string
	Subject      *descriptor
	Blobs        []descriptor
}

func readArtifact(raw []byte, doc *manifestDoc) (artifactDoc, error) {
	if doc != nil {
		return artifactDoc{ArtifactType: doc.ArtifactType, Annotations: doc.Annotations, Subject: doc.Subject, Blobs: doc.Blobs}, nil
	}
	var am struct {
		ArtifactType string            `json:"artifactType"`
		Blobs        []v1.Descriptor   `json:"blobs"`
		Subject      *v1.Descriptor    `json:"subject"`
		Annotations  map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(raw, &am); err != nil {
		return artifactDoc{}, err
	}
	return artifactDoc{ArtifactType: am.ArtifactType, Annotations: am.Annotations, Subject: fromV1Ptr(am.Subject), Blobs: fromV1s(am.Blobs)}, nil
}

// configDoc is what layerq reads from an image config: platform, created,
// labels, diff_ids and history. Other fields are not decoded (nor checked).
type configDoc struct {
	Architecture string    `json:"architecture"`
	OS           string    `json:"os"`
	OSVersion    string    `json:"os.version"`
	Variant      string    `json:"variant"`
	Created      time.Time `json:"created"`
	Config       struct {
		Labels map[string]string `json:"Labels"`
	} `json:"config"`
	RootFS struct {
		DiffIDs []digest `json:"diff_ids"`
	} `json:"rootfs"`
	History []historyDoc `json:"history"`
}

// historyDoc is v1.History.
type historyDoc struct {
	Author     string    `json:"author"`
	Created    time.Time `json:"created"`
	CreatedBy  string    `json:"created_by"`
	Comment    string    `json:"comment"`
	EmptyLayer bool      `json:"empty_layer"`
}

// readConfig decodes an image config; when the fast decoding gives up,
// v1.ParseConfigFile decides, as it always did.
func readConfig(raw []byte) (*configDoc, error) {
	if c, ok := fastConfig(raw); ok {
		return c, nil
	}
	var c configDoc
	if json.Unmarshal(raw, &c) == nil {
		return &c, nil
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c = configDoc{Architecture: cf.Architecture, OS: cf.OS, OSVersion: cf.OSVersion, Variant: cf.Variant, Created: cf.Created.Time}
	c.Config.Labels = cf.Config.Labels
	for _, d := range cf.RootFS.DiffIDs {
		c.RootFS.DiffIDs = append(c.RootFS.DiffIDs, digest(d.String()))
	}
	for _, h := range cf.History {
		c.History = append(c.History, historyDoc{Author: h.Author, Created: h.Created.Time, CreatedBy: h.CreatedBy, Comment: h.Comment, EmptyLayer: h.EmptyLayer})
	}
	return &c, nil
}

func isDigest(ref string) bool {
	return strings.HasPrefix(ref, "sha256:") || strings.HasPrefix(ref, "sha512:")
}

func joinProblems(p []string) string { return strings.Join(p, "; ") }

// clean drops NUL characters, which JSON allows and Postgres text does not.
func clean(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "")
}

// cleanMap cleans the keys and values of a label or annotation map.
func cleanMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[clean(k)] = clean(v)
	}
	return out
}

var descriptorFields = []string{"mediaType", "size", "digest", "data", "urls", "annotations", "platform", "artifactType"}

// readDescriptor reads a descriptor (or null, leaving it) into d, which is zero.
func readDescriptor(r *jsonscan.Reader, d *descriptor) bool {
	if r.Null() {
		return true
	}
	return r.Object(descriptorFields, func(k int) bool {
		switch k {
		case 0:
			return r.StrField(&d.MediaType)
		case 1:
			return r.IntField(&d.Size, 64)
		case 2:
			return r.UnmarshalerField(&d.Digest)
		case 4:
			return jsonscan.SliceField(r, &d.URLs, func(u *string) bool { return r.StrField(u) })
		case 5:
			return r.MapField(&d.Annotations)
		case 7:
			return r.StrField(&d.ArtifactType)
		}
		// data (base64) and platform: only null.
		return r.Null()
	})
}

var manifestFields = []string{"schemaVersion", "mediaType", "artifactType", "config", "manifests", "layers", "blobs", "subject", "annotations"}

// fastManifest decodes a manifest as json.Unmarshal into manifestDoc would.
func fastManifest(raw []byte) (*manifestDoc, bool) {
	r := jsonscan.NewReader(raw)
	var d manifestDoc
	ok := r.Object(manifestFields, func(k int) bool {
		switch k {
		case 0:
			var n int64
			ok := r.IntField(&n, strconv.IntSize)
			d.SchemaVersion = int(n)
			return ok
		case 1:
			return r.StrField(&d.MediaType)
		case 2:
			return r.StrField(&d.ArtifactType)
		case 3, 4:
			t, ok := r.Raw()
			if k == 3 {
				d.Config = append(json.RawMessage{}, t...)
			} else {
				d.Manifests = append(json.RawMessage{}, t...)
			}
			return ok
		case 5:
			return jsonscan.SliceField(r, &d.Layers, func(x *descriptor) bool { return readDescriptor(r, x) })
		case 6:
			return jsonscan.SliceField(r, &d.Blobs, func(x *descriptor) bool { return readDescriptor(r, x) })
		case 7:
			if r.Null() {
				return true
			}
			d.Subject = &descriptor{}
			return readDescriptor(r, d.Subject)
		default:
			return r.MapField(&d.Annotations)
		}
	})
	if !ok || !r.End() {
		return nil, false
	}
	return &d, true
}

// fastDescriptor decodes a descriptor (or null) on its own.
func fastDescriptor(raw []byte, d *descriptor) bool {
	r := jsonscan.NewReader(raw)
	return readDescriptor(r, d) && r.End()
}

var (
	configFields  = []string{"architecture", "os", "os.version", "variant", "created", "config", "rootfs", "history"}
	labelsFields  = []string{"Labels"}
	rootFSFields  = []string{"diff_ids"}
	historyFields = []string{"author", "created", "created_by", "comment", "empty_layer"}
)

// fastConfig decodes an image config as json.Unmarshal into configDoc would.
func fastConfig(raw []byte) (*configDoc, bool) {
	r := jsonscan.NewReader(raw)
	var c configDoc
	ok := r.Object(configFields, func(k int) bool {
		switch k {
		case 0:
			return r.StrField(&c.Architecture)
		case 1:
			return r.StrField(&c.OS)
		case 2:
			return r.StrField(&c.OSVersion)
		case 3:
			return r.StrField(&c.Variant)
		case 4:
			return r.UnmarshalerField(&c.Created)
		case 5:
			return r.Null() || r.Object(labelsFields, func(int) bool { return r.MapField(&c.Config.Labels) })
		case 6:
			return r.Null() || r.Object(rootFSFields, func(int) bool {
				return jsonscan.SliceField(r, &c.RootFS.DiffIDs, func(d *digest) bool { return r.UnmarshalerField(d) })
			})
		default:
			return jsonscan.SliceField(r, &c.History, func(h *historyDoc) bool {
				return r.Null() || r.Object(historyFields, func(k int) bool {
					switch k {
					case 0:
						return r.StrField(&h.Author)
					case 1:
						return r.UnmarshalerField(&h.Created)
					case 2:
						return r.StrField(&h.CreatedBy)
					case 3:
						return r.StrField(&h.Comment)
					}
					return r.BoolField(&h.EmptyLayer)
				})
			})
		}
	})
	if !ok || !r.End() {
		return nil, false
	}
	return &c, true
}
