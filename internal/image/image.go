// Package image holds what layerq learns of an image from its registry: a
// reference's manifests (an index and its children, or one image), each
// image's layers, platform and build history. The walker produces these;
// the graph stores them. It imports nothing of layerq's, so whatever
// passes them around (the receiver, the worker) links neither Postgres nor
// a registry client for them.
package image

import "time"

// Kind says what a manifest is.
type Kind string

// The kinds of manifest the graph records.
const (
	KindImage    Kind = "image"    // a runnable image: image config plus layers
	KindIndex    Kind = "index"    // an OCI image index or Docker manifest list
	KindArtifact Kind = "artifact" // anything else: Helm charts, signatures, SBOMs, attestations
)

// Platform is the os/architecture an image was built for.
type Platform struct {
	OS           string
	Architecture string
	Variant      string
	OSVersion    string
}

// Manifest is what one walk learned about one manifest. Manifests are content
// addressed: the same digest is the same manifest in every repository.
type Manifest struct {
	Digest    string
	MediaType string
	Size      int64
	Kind      Kind

	ConfigDigest    string
	ConfigMediaType string
	ConfigSize      int64

	Platform      Platform
	Created       *time.Time
	ArtifactType  string
	SubjectDigest string
	Annotations   map[string]string
	Labels        map[string]string
	// BaseName and BaseDigest come from the OCI annotations
	// org.opencontainers.image.base.name and .digest.
	BaseName   string
	BaseDigest string
	// HistoryMismatch, when set, says how the config history failed to map
	// onto the layers as the OCI image spec prescribes.
	HistoryMismatch string

	Layers   []Layer        // in order, bottom first
	History  []HistoryEntry // the full config history, empty_layer entries included
	Children []Child        // the entries of an index
}

// Layer is one entry of an image's layer list.
type Layer struct {
	Digest    string // of the compressed blob
	Size      int64  // compressed
	MediaType string
	DiffID    string // of the uncompressed tar; "" for artifacts
	ChainID   string // per the OCI image spec; "" for artifacts
	// HistoryIndex is the position in History of the entry that made this
	// layer, or -1 when none maps to it.
	HistoryIndex int
	CreatedBy    string
	Created      *time.Time
	Comment      string
}

// HistoryEntry is one entry of an image config's history.
type HistoryEntry struct {
	Created    *time.Time
	CreatedBy  string
	Author     string
	Comment    string
	EmptyLayer bool
}

// Child is one entry of an index.
type Child struct {
	Digest    string
	MediaType string
	Size      int64
	Platform  Platform
}

// Observation is what walking one reference found in one repository: the
// manifest it names and, for an index, every child manifest.
type Observation struct {
	Registry   string
	Repository string
	// Tag is the tag that was walked; "" when walked by digest.
	Tag string
	// Manifests holds the root manifest first, then the children of an index.
	Manifests  []Manifest
	ObservedAt time.Time
	// Source says who saw it: "scan", or the webhook source.
	Source string
	// EventID is the registry's id for the event that reported it, if any.
	EventID string
}

// Root is the manifest the observation's reference names.
func (o Observation) Root() Manifest { return o.Manifests[0] }
