package walker

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The walker decodes a manifest once, into manifestDoc, and a config into
// configDoc, which hold only what layerq reads, in up to three steps, each
// taking over only when the one before gives up:
//
//  1. fastJSON (below) decodes common documents exactly as json.Unmarshal
//     would into manifestDoc and configDoc, without reflection.
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

// fastJSON decodes the documents the walker reads for every image (the
// manifest, its config descriptor, the config) into manifestDoc, descriptor
// and configDoc three times faster than json.Unmarshal. It is conservative:
// it takes only documents it decodes exactly as json.Unmarshal would, and
// gives up (false) on anything else: escaped UTF-16 surrogates and invalid
// UTF-8 in strings it keeps, keys with escapes or non-ASCII bytes, a key that
// matches a field only when case is ignored, a field given twice, numbers
// that are not plain integers where an integer goes, values of the wrong
// type, base64 data and platforms in descriptors, syntax errors anywhere,
// nesting deeper than 64. (It was checked against json.Unmarshal by fuzzing:
// whatever it accepts, json.Unmarshal accepts and decodes the same.)
type fastJSON struct {
	b     []byte
	i     int
	depth int
}

const fastMaxDepth = 64

// peek skips white space and returns the next byte, 0 at the end.
func (r *fastJSON) peek() byte {
	for r.i < len(r.b) {
		switch c := r.b[r.i]; c {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return c
		}
	}
	return 0
}

// end reports whether only white space is left.
func (r *fastJSON) end() bool { return r.peek() == 0 && r.i == len(r.b) }

func (r *fastJSON) literal(s string) bool {
	if len(r.b)-r.i >= len(s) && string(r.b[r.i:r.i+len(s)]) == s {
		r.i += len(s)
		return true
	}
	return false
}

// null consumes a null if one comes next.
func (r *fastJSON) null() bool { return r.peek() == 'n' && r.literal("null") }

// str reads a string value.
func (r *fastJSON) str() (string, bool) {
	if r.peek() != '"' {
		return "", false
	}
	r.i++
	start := r.i
	var buf []byte // the unescaped string, once it has an escape
	ascii := true
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			seg := r.b[start:r.i]
			r.i++
			if buf != nil {
				buf = append(buf, seg...)
				seg = buf
			}
			if !ascii && !utf8.Valid(seg) {
				return "", false
			}
			return string(seg), true
		case c == '\\':
			if r.i+1 >= len(r.b) {
				return "", false
			}
			var e byte
			switch r.b[r.i+1] {
			case '"', '\\', '/':
				e = r.b[r.i+1]
			case 'b':
				e = '\b'
			case 'f':
				e = '\f'
			case 'n':
				e = '\n'
			case 'r':
				e = '\r'
			case 't':
				e = '\t'
			case 'u': // as encoding/json Go writes <, > and &
				if r.i+6 > len(r.b) {
					return "", false
				}
				var u rune
				for _, h := range r.b[r.i+2 : r.i+6] {
					switch {
					case '0' <= h && h <= '9':
						u = u<<4 | rune(h-'0')
					case 'a' <= h && h <= 'f':
						u = u<<4 | rune(h-'a'+10)
					case 'A' <= h && h <= 'F':
						u = u<<4 | rune(h-'A'+10)
					default:
						return "", false
					}
				}
				if utf16.IsSurrogate(u) {
					return "", false
				}
				buf = utf8.AppendRune(append(buf, r.b[start:r.i]...), u)
				r.i += 6
				start = r.i
				continue
			default:
				return "", false
			}
			buf = append(append(buf, r.b[start:r.i]...), e)
			r.i += 2
			start = r.i
		case c < 0x20:
			return "", false
		default:
			if c >= 0x80 {
				ascii = false
			}
			r.i++
		}
	}
	return "", false
}

// key reads an object key (and its colon) without escapes or non-ASCII bytes.
func (r *fastJSON) key() ([]byte, bool) {
	if r.peek() != '"' {
		return nil, false
	}
	r.i++
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		if c == '"' {
			k := r.b[start:r.i]
			r.i++
			if r.peek() != ':' {
				return nil, false
			}
			r.i++
			return k, true
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			return nil, false
		}
		r.i++
	}
	return nil, false
}

// skip checks and skips any value.
func (r *fastJSON) skip() bool {
	switch r.peek() {
	case '"':
		r.i++
		for r.i < len(r.b) {
			c := r.b[r.i]
			switch {
			case c == '"':
				r.i++
				return true
			case c == '\\':
				if r.i+1 >= len(r.b) {
					return false
				}
				switch r.b[r.i+1] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
					r.i += 2
				case 'u':
					if r.i+6 > len(r.b) {
						return false
					}
					for _, h := range r.b[r.i+2 : r.i+6] {
						if !isHex(h) {
							return false
						}
					}
					r.i += 6
				default:
					return false
				}
			case c < 0x20:
				return false
			default:
				r.i++
			}
		}
		return false
	case '{':
		return r.container('{', '}', func() bool {
			if r.peek() != '"' || !r.skip() || r.peek() != ':' {
				return false
			}
			r.i++
			return r.skip()
		})
	case '[':
		return r.container('[', ']', r.skip)
	case 't':
		return r.literal("true")
	case 'f':
		return r.literal("false")
	case 'n':
		return r.literal("null")
	}
	_, ok := r.number()
	return ok
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// number reads a number as JSON writes it and returns its text.
func (r *fastJSON) number() ([]byte, bool) {
	r.peek()
	start := r.i
	digits := func() bool {
		n := r.i
		for r.i < len(r.b) && isDigit(r.b[r.i]) {
			r.i++
		}
		return r.i > n
	}
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	switch {
	case r.i < len(r.b) && r.b[r.i] == '0':
		r.i++
	case !digits():
		return nil, false
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if !digits() {
			return nil, false
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if !digits() {
			return nil, false
		}
	}
	return r.b[start:r.i], true
}

// container reads an object or array, elem reading each member.
func (r *fastJSON) container(open, close byte, elem func() bool) bool {
	if r.peek() != open {
		return false
	}
	if r.depth++; r.depth > fastMaxDepth {
		return false
	}
	r.i++
	if r.peek() == close {
		r.i++
		r.depth--
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch r.peek() {
		case ',':
			r.i++
		case close:
			r.i++
			r.depth--
			return true
		default:
			return false
		}
	}
}

// object reads an object whose keys that matter are names; field reads the
// value of names[k]. Other keys are skipped.
func (r *fastJSON) object(names []string, field func(k int) bool) bool {
	var seen uint64
	return r.container('{', '}', func() bool {
		key, ok := r.key()
		if !ok {
			return false
		}
		for k, n := range names {
			if string(key) == n {
				if seen&(1<<k) != 0 {
					return false
				}
				seen |= 1 << k
				return field(k)
			}
		}
		for _, n := range names {
			if asciiEqualFold(key, n) {
				return false
			}
		}
		return r.skip()
	})
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// raw returns the text of the next value.
func (r *fastJSON) raw() ([]byte, bool) {
	r.peek()
	start := r.i
	if !r.skip() {
		return nil, false
	}
	return r.b[start:r.i], true
}

// The field readers below decode as json.Unmarshal does, null included.

func (r *fastJSON) strField(s *string) bool {
	if r.null() {
		return true
	}
	v, ok := r.str()
	*s = v
	return ok
}

func (r *fastJSON) intField(n *int64, bits int) bool {
	if r.null() {
		return true
	}
	t, ok := r.number()
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(string(t), 10, bits)
	*n = v
	return err == nil
}

func (r *fastJSON) boolField(b *bool) bool {
	switch {
	case r.null():
	case r.literal("true"):
		*b = true
	case r.literal("false"):
		*b = false
	default:
		return false
	}
	return true
}

// unmarshalerField hands the value's text to u, as json.Unmarshal does.
func (r *fastJSON) unmarshalerField(u json.Unmarshaler) bool {
	t, ok := r.raw()
	return ok && u.UnmarshalJSON(t) == nil
}

func (r *fastJSON) mapField(m *map[string]string) bool {
	if r.null() {
		*m = nil
		return true
	}
	if r.peek() != '{' {
		return false
	}
	if *m == nil {
		*m = map[string]string{}
	}
	return r.container('{', '}', func() bool {
		k, ok := r.str()
		if !ok || r.peek() != ':' {
			return false
		}
		r.i++
		var v string
		if !r.strField(&v) {
			return false
		}
		(*m)[k] = v
		return true
	})
}

// sliceField reads an array into *s (nil for null, empty for []), elem
// reading each element, null included.
func sliceField[T any](r *fastJSON, s *[]T, elem func(*T) bool) bool {
	if r.null() {
		*s = nil
		return true
	}
	if r.peek() != '[' {
		return false
	}
	*s = (*s)[:0]
	if *s == nil {
		*s = []T{}
	}
	return r.container('[', ']', func() bool {
		var v T
		if !elem(&v) {
			return false
		}
		*s = append(*s, v)
		return true
	})
}

var descriptorFields = []string{"mediaType", "size", "digest", "data", "urls", "annotations", "platform", "artifactType"}

// descriptor reads a descriptor (or null, leaving it) into d, which is zero.
func (r *fastJSON) descriptor(d *descriptor) bool {
	if r.null() {
		return true
	}
	return r.object(descriptorFields, func(k int) bool {
		switch k {
		case 0:
			return r.strField(&d.MediaType)
		case 1:
			return r.intField(&d.Size, 64)
		case 2:
			return r.unmarshalerField(&d.Digest)
		case 4:
			return sliceField(r, &d.URLs, func(u *string) bool { return r.strField(u) })
		case 5:
			return r.mapField(&d.Annotations)
		case 7:
			return r.strField(&d.ArtifactType)
		}
		// data (base64) and platform: only null.
		return r.null()
	})
}

var manifestFields = []string{"schemaVersion", "mediaType", "artifactType", "config", "manifests", "layers", "blobs", "subject", "annotations"}

// fastManifest decodes a manifest as json.Unmarshal into manifestDoc would.
func fastManifest(raw []byte) (*manifestDoc, bool) {
	r := &fastJSON{b: raw}
	var d manifestDoc
	ok := r.object(manifestFields, func(k int) bool {
		switch k {
		case 0:
			var n int64
			ok := r.intField(&n, strconv.IntSize)
			d.SchemaVersion = int(n)
			return ok
		case 1:
			return r.strField(&d.MediaType)
		case 2:
			return r.strField(&d.ArtifactType)
		case 3, 4:
			t, ok := r.raw()
			if k == 3 {
				d.Config = append(json.RawMessage{}, t...)
			} else {
				d.Manifests = append(json.RawMessage{}, t...)
			}
			return ok
		case 5:
			return sliceField(r, &d.Layers, r.descriptor)
		case 6:
			return sliceField(r, &d.Blobs, r.descriptor)
		case 7:
			if r.null() {
				return true
			}
			d.Subject = &descriptor{}
			return r.descriptor(d.Subject)
		default:
			return r.mapField(&d.Annotations)
		}
	})
	if !ok || !r.end() {
		return nil, false
	}
	return &d, true
}

// fastDescriptor decodes a descriptor (or null) on its own.
func fastDescriptor(raw []byte, d *descriptor) bool {
	r := &fastJSON{b: raw}
	return r.descriptor(d) && r.end()
}

var (
	configFields  = []string{"architecture", "os", "os.version", "variant", "created", "config", "rootfs", "history"}
	labelsFields  = []string{"Labels"}
	rootFSFields  = []string{"diff_ids"}
	historyFields = []string{"author", "created", "created_by", "comment", "empty_layer"}
)

// fastConfig decodes an image config as json.Unmarshal into configDoc would.
func fastConfig(raw []byte) (*configDoc, bool) {
	r := &fastJSON{b: raw}
	var c configDoc
	ok := r.object(configFields, func(k int) bool {
		switch k {
		case 0:
			return r.strField(&c.Architecture)
		case 1:
			return r.strField(&c.OS)
		case 2:
			return r.strField(&c.OSVersion)
		case 3:
			return r.strField(&c.Variant)
		case 4:
			return r.unmarshalerField(&c.Created)
		case 5:
			return r.null() || r.object(labelsFields, func(int) bool { return r.mapField(&c.Config.Labels) })
		case 6:
			return r.null() || r.object(rootFSFields, func(int) bool {
				return sliceField(r, &c.RootFS.DiffIDs, func(d *digest) bool { return r.unmarshalerField(d) })
			})
		default:
			return sliceField(r, &c.History, func(h *historyDoc) bool {
				return r.null() || r.object(historyFields, func(k int) bool {
					switch k {
					case 0:
						return r.strField(&h.Author)
					case 1:
						return r.unmarshalerField(&h.Created)
					case 2:
						return r.strField(&h.CreatedBy)
					case 3:
						return r.strField(&h.Comment)
					}
					return r.boolField(&h.EmptyLayer)
				})
			})
		}
	})
	if !ok || !r.end() {
		return nil, false
	}
	return &c, true
}
