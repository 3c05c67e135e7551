// Package walker fetches a manifest from a registry, with everything below it
// (index children, image config), and turns it into a image.Observation.
//
// It reads only manifests and configs, never layers. Everything fetched by
// digest is verified against the digest; manifests and configs over
// MaxManifestBytes are refused.
package walker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/layerq/layerq/internal/image"
)

// ociArtifactManifest is the short-lived OCI artifact manifest (image-spec
// 1.1 release candidates), still found in registries.
const ociArtifactManifest = "application/vnd.oci.artifact.manifest.v1+json"

// MaxManifestBytes caps the size of a manifest or config the walker accepts.
const MaxManifestBytes = 4 << 20

// maxIndexDepth bounds how deep indexes may nest (an index of indexes).
const maxIndexDepth = 4

// Options configure a Walker.
type Options struct {
	// Insecure allows plain HTTP to registries that are not on localhost.
	Insecure bool
	// Keychain resolves credentials; nil means anonymous.
	Keychain authn.Keychain
	// Transport is the HTTP transport; nil means a pooled default.
	Transport http.RoundTripper
	// Jobs is how many requests may be in flight at once (default 32).
	Jobs int
	// PageSize is how many catalog or tag entries to ask for per page
	// (default 100; distribution refuses more than its catalog.maxentries).
	PageSize int
	// Now stamps observations; nil means time.Now.
	Now func() time.Time
	// Source names who observed what the walker finds (default "scan").
	Source string
	// Timeout bounds one Walk, index children included (default 2 minutes).
	Timeout time.Duration
	// Attempts is how often one request is tried when the registry answers
	// 5xx or 429 or the connection fails (default 3, with 250 ms, 500 ms
	// pauses). Callers that retry whole walks themselves set 1.
	Attempts int
}

// Walker walks manifests. It is safe for concurrent use.
type Walker struct {
	puller   *remote.Puller
	insecure bool
	now      func() time.Time
	source   string
	timeout  time.Duration
}

// New returns a Walker.
func New(opts Options) (*Walker, error) {
	if opts.Jobs <= 0 {
		opts.Jobs = 32
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 100
	}
	if opts.Keychain == nil {
		opts.Keychain = authn.NewMultiKeychain()
	}
	if opts.Transport == nil {
		opts.Transport = DefaultTransport(opts.Jobs)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Source == "" {
		opts.Source = "scan"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Minute
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 3
	}
	p, err := remote.NewPuller(
		remote.WithAuthFromKeychain(opts.Keychain),
		remote.WithTransport(capManifests(limitRedirects(rememberPlainHTTP(opts.Transport)))),
		remote.WithJobs(opts.Jobs),
		remote.WithPageSize(opts.PageSize),
		remote.WithUserAgent("layerq"),
		remote.WithRetryBackoff(remote.Backoff{Duration: 250 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: opts.Attempts}),
	)
	if err != nil {
		return nil, err
	}
	return &Walker{puller: p, insecure: opts.Insecure, now: opts.Now, source: opts.Source, timeout: opts.Timeout}, nil
}

// DefaultTransport is an HTTP transport that keeps enough idle connections
// for jobs concurrent requests to one registry, and gives up on a registry
// that accepts a request but does not answer it.
func DefaultTransport(jobs int) *http.Transport {
	t := remote.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = jobs * 2
	t.MaxIdleConnsPerHost = jobs * 2
	t.ResponseHeaderTimeout = 30 * time.Second
	return t
}

// Registry parses a registry host for this walker.
func (w *Walker) Registry(registry string) (name.Registry, error) {
	var opts []name.Option
	if w.insecure {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(registry, opts...)
	if err != nil {
		return reg, failf(Invalid, err, "registry %q: %v", registry, err)
	}
	return reg, nil
}

// Repository parses registry and repository into a reference for this walker.
func (w *Walker) Repository(registry, repository string) (name.Repository, error) {
	var opts []name.Option
	if w.insecure {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(registry+"/"+repository, opts...)
	if err != nil {
		return repo, failf(Invalid, err, "repository %s/%s: %v", registry, repository, err)
	}
	return repo, nil
}

// Puller returns the puller the walker fetches through, so a crawler can list
// catalogs and tags over the same connections and credentials.
func (w *Walker) Puller() *remote.Puller { return w.puller }

// Walk fetches the manifest that reference (a tag or a digest) names in
// registry/repository and everything below it.
func (w *Walker) Walk(ctx context.Context, registry, repository, reference string) (image.Observation, error) {
	obs := image.Observation{Registry: registry, Repository: repository, Source: w.source}
	repo, err := w.Repository(registry, repository)
	if err != nil {
		return obs, err
	}
	var ref name.Reference
	if isDigest(reference) {
		ref, err = name.NewDigest(repo.Name()+"@"+reference, name.Insecure)
	} else {
		obs.Tag = reference
		ref, err = name.NewTag(repo.Name()+":"+reference, name.Insecure)
	}
	if err != nil {
		return obs, failf(Invalid, err, "reference %q: %v", reference, err)
	}
	if !w.insecure {
		// name.Insecure above only lets the reference parse; the scheme
		// follows the repository's own setting.
		ref = rebase(ref, repo)
	}
	obs.ObservedAt = w.now()
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	manifests, err := w.walk(ctx, ref, 0)
	if err != nil {
		return obs, err
	}
	obs.Manifests = manifests
	return obs, nil
}

// Exists reports whether registry/repository still has the manifest
// digest (a HEAD): false when the registry answers 404, an error when it
// cannot tell.
func (w *Walker) Exists(ctx context.Context, registry, repository, digest string) (bool, error) {
	repo, err := w.Repository(registry, repository)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	if _, err = w.puller.Head(ctx, repo.Digest(digest)); err == nil {
		return true, nil
	}
	err = Classify("checking "+repo.Name()+"@"+digest, err)
	var we *Error
	if errors.As(err, &we) && we.Class == NotFound {
		return false, nil
	}
	return false, err
}

func rebase(ref name.Reference, repo name.Repository) name.Reference {
	switch r := ref.(type) {
	case name.Digest:
		return repo.Digest(r.DigestStr())
	case name.Tag:
		return repo.Tag(r.TagStr())
	}
	return ref
}

// walk fetches one manifest and, for an index, every child. The root comes first.
func (w *Walker) walk(ctx context.Context, ref name.Reference, depth int) ([]image.Manifest, error) {
	desc, err := w.puller.Get(ctx, ref)
	if err != nil {
		return nil, Classify("fetching manifest "+ref.String(), err)
	}
	raw := desc.Manifest
	if len(raw) > MaxManifestBytes {
		return nil, failf(TooLarge, nil, "manifest %s is %d bytes, over the %d byte limit", ref, len(raw), MaxManifestBytes)
	}
	// By digest, go-containerregistry has verified the body against it (in
	// its algorithm); by tag, it is the sha256 of the body.
	digest := desc.Digest.String()
	doc, mediaType, schemaVersion, err := readManifest(raw, string(desc.MediaType))
	if err != nil {
		return nil, failf(Invalid, err, "manifest %s is not valid JSON: %v", ref, err)
	}
	if schemaVersion == 1 || types.MediaType(mediaType).IsSchema1() {
		return nil, failf(Unsupported, nil, "manifest %s is Docker image manifest schema 1, which layerq does not support (deprecated since 2017); re-push the image with a current client", ref)
	}
	m := image.Manifest{Digest: digest, MediaType: mediaType, Size: int64(len(raw))}
	switch types.MediaType(mediaType) {
	case types.OCIImageIndex, types.DockerManifestList:
		if depth >= maxIndexDepth {
			return nil, failf(Invalid, nil, "manifest %s: indexes nested deeper than %d", ref, maxIndexDepth)
		}
		return w.index(ctx, ref, m, raw, doc, depth)
	case types.OCIManifestSchema1, types.DockerManifestSchema2:
		if err := w.image(ctx, ref, &m, raw, doc); err != nil {
			return nil, err
		}
		return []image.Manifest{m}, nil
	case ociArtifactManifest:
		if err := artifactManifest(ref, &m, raw, doc); err != nil {
			return nil, err
		}
		return []image.Manifest{m}, nil
	default:
		return nil, failf(Unsupported, nil, "manifest %s has media type %q, which is not an image manifest or index", ref, mediaType)
	}
}

func (w *Walker) index(ctx context.Context, ref name.Reference, m image.Manifest, raw []byte, doc *manifestDoc, depth int) ([]image.Manifest, error) {
	idx, err := readIndex(raw, doc)
	if err != nil {
		return nil, failf(Invalid, err, "index %s: %v", ref, err)
	}
	m.Kind = image.KindIndex
	m.ArtifactType = idx.ArtifactType
	m.Annotations = cleanMap(idx.Annotations)
	if idx.Subject != nil {
		m.SubjectDigest = idx.Subject.String()
	}
	out := []image.Manifest{m}
	seen := map[string]bool{m.Digest: true}
	for _, c := range idx.Manifests {
		child := image.Child{Digest: c.String(), MediaType: c.MediaType, Size: c.Size}
		if c.Platform != nil {
			child.Platform = image.Platform{OS: c.Platform.OS, Architecture: c.Platform.Architecture, Variant: c.Platform.Variant, OSVersion: c.Platform.OSVersion}
		}
		out[0].Children = append(out[0].Children, child)
		if seen[child.Digest] {
			continue
		}
		if c.Size > MaxManifestBytes {
			return nil, failf(TooLarge, nil, "index %s: child %s is %d bytes, over the %d byte limit", ref, child.Digest, c.Size, MaxManifestBytes)
		}
		below, err := w.walk(ctx, ref.Context().Digest(child.Digest), depth+1)
		if err != nil {
			return nil, fmt.Errorf("index %s: child %s: %w", ref, child.Digest, err)
		}
		for _, b := range below {
			if !seen[b.Digest] {
				seen[b.Digest] = true
				out = append(out, b)
			}
		}
	}
	return out, nil
}

func (w *Walker) image(ctx context.Context, ref name.Reference, m *image.Manifest, raw []byte, doc *manifestDoc) error {
	man, err := readImage(raw, doc)
	if err != nil {
		return failf(Invalid, err, "manifest %s: %v", ref, err)
	}
	m.ConfigDigest = man.Config.String()
	m.ConfigMediaType = man.Config.MediaType
	m.ConfigSize = man.Config.Size
	m.ArtifactType = man.Config.ArtifactType
	if man.ArtifactType != "" {
		m.ArtifactType = man.ArtifactType
	}
	m.Annotations = cleanMap(man.Annotations)
	m.BaseName = m.Annotations["org.opencontainers.image.base.name"]
	m.BaseDigest = m.Annotations["org.opencontainers.image.base.digest"]
	if man.Subject != nil {
		m.SubjectDigest = man.Subject.String()
	}
	if len(man.Layers) > 0 {
		m.Layers = make([]image.Layer, len(man.Layers))
		for i, l := range man.Layers {
			m.Layers[i] = image.Layer{Digest: l.String(), Size: l.Size, MediaType: l.MediaType, HistoryIndex: -1}
		}
	}
	cmt := types.MediaType(man.Config.MediaType)
	if man.ArtifactType != "" || (cmt != types.OCIConfigJSON && cmt != types.DockerConfigJSON) {
		m.Kind = image.KindArtifact
		if m.ArtifactType == "" {
			m.ArtifactType = string(cmt)
		}
		return nil
	}
	m.Kind = image.KindImage
	m.ArtifactType = ""
	if man.Config.Size > MaxManifestBytes {
		return failf(TooLarge, nil, "config %s of %s is %d bytes, over the %d byte limit", man.Config.Digest, ref, man.Config.Size, MaxManifestBytes)
	}
	cfgRaw, err := w.config(ctx, ref.Context().Digest(m.ConfigDigest))
	if err != nil {
		return err
	}
	cfg, err := readConfig(cfgRaw)
	if err != nil {
		return failf(Invalid, err, "config %s of %s: %v", m.ConfigDigest, ref, err)
	}
	applyConfig(m, cfg)
	return nil
}

// artifactManifest records an OCI artifact manifest: its blobs, artifactType
// and subject.
func artifactManifest(ref name.Reference, m *image.Manifest, raw []byte, doc *manifestDoc) error {
	am, err := readArtifact(raw, doc)
	if err != nil {
		return failf(Invalid, err, "artifact manifest %s: %v", ref, err)
	}
	m.Kind = image.KindArtifact
	m.ArtifactType = am.ArtifactType
	m.Annotations = cleanMap(am.Annotations)
	if am.Subject != nil {
		m.SubjectDigest = am.Subject.String()
	}
	for _, b := range am.Blobs {
		m.Layers = append(m.Layers, image.Layer{Digest: b.String(), Size: b.Size, MediaType: b.MediaType, HistoryIndex: -1})
	}
	return nil
}

func (w *Walker) config(ctx context.Context, d name.Digest) ([]byte, error) {
	doing := "fetching config " + d.String()
	rc, err := w.open(ctx, d, doing)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, MaxManifestBytes+1))
	if err != nil {
		return nil, Classify(doing, err)
	}
	if len(b) > MaxManifestBytes {
		return nil, failf(TooLarge, nil, "%s: over the %d byte limit", doing, MaxManifestBytes)
	}
	return b, nil
}

// applyConfig fills in what the image config says: platform, created, labels,
// history, and per layer its diff_id, chain id and the history entry that
// made it.
func applyConfig(m *image.Manifest, cfg *configDoc) {
	m.Platform = image.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant, OSVersion: cfg.OSVersion}
	m.Created = timePtr(cfg.Created)
	m.Labels = cleanMap(cfg.Config.Labels)
	if len(cfg.History) > 0 {
		m.History = make([]image.HistoryEntry, len(cfg.History))
		for i, h := range cfg.History {
			m.History[i] = image.HistoryEntry{
				Created: timePtr(h.Created), CreatedBy: clean(h.CreatedBy), Author: clean(h.Author), Comment: clean(h.Comment), EmptyLayer: h.EmptyLayer,
			}
		}
	}
	var problems []string
	diffIDs := cfg.RootFS.DiffIDs
	if len(diffIDs) != len(m.Layers) {
		problems = append(problems, fmt.Sprintf("config lists %d diff_ids for %d layers", len(diffIDs), len(m.Layers)))
	}
	chain := ""
	for i := range m.Layers {
		if i >= len(diffIDs) {
			break
		}
		d := string(diffIDs[i])
		m.Layers[i].DiffID = d
		if chain == "" {
			chain = d
		} else {
			chain = "sha256:" + sha256Hex([]byte(chain+" "+d))
		}
		m.Layers[i].ChainID = chain
	}
	// Per the OCI image spec, the history entries without empty_layer map
	// onto the layers in order.
	var nonEmpty []int
	for i, h := range cfg.History {
		if !h.EmptyLayer {
			nonEmpty = append(nonEmpty, i)
		}
	}
	if len(cfg.History) > 0 && len(nonEmpty) != len(m.Layers) {
		problems = append(problems, fmt.Sprintf("config history has %d non-empty entries for %d layers", len(nonEmpty), len(m.Layers)))
	}
	for i := range m.Layers {
		if i >= len(nonEmpty) {
			break
		}
		attribute(&m.Layers[i], m.History, nonEmpty[i])
	}
	problems = append(problems, honestSteps(m)...)
	if len(problems) > 0 {
		m.HistoryMismatch = joinProblems(problems)
	}
}

// attribute records history entry h as the step that made layer l.
func attribute(l *image.Layer, history []image.HistoryEntry, h int) {
	e := history[h]
	l.HistoryIndex, l.CreatedBy, l.Created, l.Comment = h, e.CreatedBy, e.Created, e.Comment
}

// metadataOnly are the Dockerfile instructions that change only the image
// config: none of them can have made a layer with content.
var metadataOnly = map[string]bool{
	"CMD": true, "ENTRYPOINT": true, "ENV": true, "LABEL": true, "EXPOSE": true, "USER": true, "WORKDIR": true,
	"VOLUME": true, "STOPSIGNAL": true, "HEALTHCHECK": true, "SHELL": true, "ONBUILD": true, "ARG": true, "MAINTAINER": true,
}

// makesLayer are the instructions that write files.
var makesLayer = map[string]bool{"ADD": true, "COPY": true, "RUN": true}

// emptyTarDiffID is the diff_id of an empty tar (1024 zero bytes): the
// layer some builders commit for an instruction that changed nothing.
const emptyTarDiffID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"

// workdirLayerBytes: BuildKit commits the directory a WORKDIR creates as a
// layer of its own, a few hundred bytes compressed. A larger layer is not
// WORKDIR's.
const workdirLayerBytes = 1024

// honestSteps re-attributes the layers that the spec's mapping gives to an
// instruction that changes only the config. Builders get empty_layer wrong:
// buildah marks a base's "ADD file:… in /" empty and its CMD ["bash"] not,
// and the spec's mapping then says a 90 MiB layer was made by CMD. Such a
// layer goes to the nearest ADD, COPY or RUN entry that no other layer maps
// to: among the entries between it and the layer below, the nearest first;
// else among those up to the layer above, unless that layer needs them
// itself. An empty layer, and BuildKit's small WORKDIR layer, stay as they
// are. It returns what it did, for history_mismatch.
// sql/migrations/00009_history_steps.sql does the same to the layers of a
// graph ingested before: keep the two alike.
func honestSteps(m *image.Manifest) []string {
	mapped := make([]int, len(m.Layers)) // the spec's mapping, before any change
	for i, l := range m.Layers {
		mapped[i] = l.HistoryIndex
	}
	// at is the entry layer i maps to: -1 below the first layer, past the
	// history above the last mapped one.
	at := func(i int) int {
		switch {
		case i < 0:
			return -1
		case i >= len(mapped) || mapped[i] < 0:
			return len(m.History)
		}
		return mapped[i]
	}
	needs := func(i int) bool {
		if i < 0 || i >= len(mapped) || mapped[i] < 0 {
			return false
		}
		l, in := m.Layers[i], instruction(m.History[mapped[i]].CreatedBy)
		return metadataOnly[in] && l.DiffID != emptyTarDiffID && !(in == "WORKDIR" && l.Size < workdirLayerBytes)
	}
	writes := func(j int) bool { return makesLayer[instruction(m.History[j].CreatedBy)] }
	var notes []string
	for i := range m.Layers {
		if !needs(i) {
			continue
		}
		h, to := mapped[i], -1
		for j := h - 1; j > at(i-1) && to < 0; j-- {
			if writes(j) {
				to = j
			}
		}
		if to < 0 && !needs(i+1) {
			for j := h + 1; j < at(i+1) && to < 0; j++ {
				if writes(j) {
					to = j
				}
			}
		}
		if to < 0 {
			notes = append(notes, fmt.Sprintf("layer #%d maps to history entry #%d (%s), which makes no layer, and no ADD, COPY or RUN entry beside it could have made it",
				i, h, brief(m.History[h].CreatedBy)))
			continue
		}
		marked := ""
		if m.History[to].EmptyLayer {
			marked = ", marked empty_layer"
		}
		notes = append(notes, fmt.Sprintf("layer #%d is from history entry #%d (%s%s), not #%d (%s), which makes no layer",
			i, to, brief(m.History[to].CreatedBy), marked, h, brief(m.History[h].CreatedBy)))
		attribute(&m.Layers[i], m.History, to)
	}
	return notes
}

// instruction is the Dockerfile instruction a history entry records, as
// the classic builder spells it ("/bin/sh -c #(nop) CMD […]", "/bin/sh -c
// make" and "|2 A=1 B=2 /bin/sh -c make" for RUN) and as BuildKit and
// buildah do ("CMD […]", "RUN /bin/sh -c make # buildkit"); "" when the
// entry names none.
func instruction(createdBy string) string {
	s := strings.TrimLeftFunc(createdBy, isSpace)
	if rest, ok := strings.CutPrefix(s, "/bin/sh -c #(nop)"); ok {
		return keyword(strings.TrimLeftFunc(rest, isSpace))
	}
	if strings.HasPrefix(s, "/bin/sh -c ") || buildArgs(s) {
		return "RUN"
	}
	return keyword(s)
}

// buildArgs reports whether s starts as the classic builder's RUN with
// build arguments: "|2 A=1 B=2 …".
func buildArgs(s string) bool {
	n := 1
	for n < len(s) && '0' <= s[n] && s[n] <= '9' {
		n++
	}
	return len(s) > 0 && s[0] == '|' && n > 1 && n < len(s) && s[n] == ' '
}

// keyword is the word of capitals s starts with, "" when it starts
// otherwise.
func keyword(s string) string {
	n := 0
	for n < len(s) && 'A' <= s[n] && s[n] <= 'Z' {
		n++
	}
	if n == 0 || n < len(s) && !isSpace(rune(s[n])) {
		return ""
	}
	return s[:n]
}

// isSpace is ASCII white space, as Postgres regular expressions see it.
func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v'
}

// brief is a history step on one line, at most 60 characters, for a note.
func brief(s string) string {
	s = strings.Join(strings.FieldsFunc(s, isSpace), " ")
	if r := []rune(s); len(r) > 60 {
		s = string(r[:59]) + "…"
	}
	return s
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
