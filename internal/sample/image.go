// Package sample builds deterministic container images, indexes and
// artifacts from tar entries described in code, for tests and demos, and
// pushes the demo registry content (see Demo).
//
// Everything is byte-for-byte reproducible: the same Spec always yields the
// same layer, config and manifest digests.
package sample

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Compression selects how layer blobs are encoded.
type Compression int

const (
	// Gzip compresses layers with gzip (the default).
	Gzip Compression = iota
	// Zstd compresses layers with zstd; it only exists as the OCI media
	// type, so it forces the OCI format.
	Zstd
	// Uncompressed stores layer blobs as plain tar (blob digest = diff_id).
	Uncompressed
)

// String returns "gzip", "zstd" or "uncompressed".
func (c Compression) String() string {
	switch c {
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	case Uncompressed:
		return "uncompressed"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

// Format selects the manifest, config and layer media types.
type Format int

const (
	// Docker is the Docker image manifest v2 schema 2 format (the default).
	Docker Format = iota
	// OCI is the OCI image format.
	OCI
)

// String returns "docker" or "oci".
func (f Format) String() string {
	switch f {
	case Docker:
		return "docker"
	case OCI:
		return "oci"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Step is one Dockerfile instruction. A step with Empty set makes a history
// entry with empty_layer and no layer (ENV, CMD, LABEL...). Otherwise it makes
// one layer from Files; Files may be empty, which gives an empty tar layer
// (like a RUN that changed nothing).
type Step struct {
	// CreatedBy is the history created_by text, e.g.
	// "RUN /bin/sh -c make install # buildkit".
	CreatedBy string
	// Files are the layer's tar entries, in order.
	Files []File
	// Empty marks a metadata-only step (no layer); Files must then be empty.
	Empty bool
	// Comment is the history comment, e.g. "buildkit.dockerfile.v0".
	Comment string
}

// Spec describes an image.
type Spec struct {
	// Base is the image to build on (its layers, config and history are
	// kept); nil means scratch.
	Base v1.Image
	// Steps are appended, in order, after the base's history and layers.
	Steps []Step
	// Created is the config's created time (default Epoch); the history entry
	// of step i gets Created + i seconds so that they differ.
	Created time.Time
	// OS, Arch and Variant are the config platform. Empty OS or Arch are
	// inherited from Base, else "linux" and "amd64"; Variant is inherited
	// from Base only when Arch is empty.
	OS, Arch, Variant string
	// Labels are merged over the base's config labels.
	Labels map[string]string
	// Annotations are the manifest annotations (e.g.
	// org.opencontainers.image.base.name and .base.digest).
	Annotations map[string]string
	// Compression encodes the new layers (default Gzip).
	Compression Compression
	// Format selects the media types (default Docker). Zstd layers, new or
	// inherited from Base, force OCI. Base layers are relabelled with the
	// media type of the chosen format; their blobs are unchanged.
	Format Format
}

// Build returns the image described by s.
//
// The config history lists the base's history followed by one entry per
// step (empty_layer for Empty steps), rootfs.diff_ids lists the base's
// layers followed by the steps' layers, and the manifest lists the same
// layers. The result is reproducible: the same Spec gives the same digest.
func Build(s Spec) (v1.Image, error) {
	format := s.Format
	if s.Compression == Zstd {
		format = OCI
	}

	cf := &v1.ConfigFile{}
	var baseLayers []v1.Layer
	if s.Base != nil {
		bcf, err := s.Base.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("sample: base config: %w", err)
		}
		cf = bcf.DeepCopy()
		if baseLayers, err = s.Base.Layers(); err != nil {
			return nil, fmt.Errorf("sample: base layers: %w", err)
		}
		for _, l := range baseLayers {
			if mt, err := l.MediaType(); err != nil {
				return nil, err
			} else if mt == types.OCILayerZStd {
				format = OCI
			}
		}
		if len(cf.RootFS.DiffIDs) != len(baseLayers) {
			return nil, fmt.Errorf("sample: base has %d layers but %d diff_ids", len(baseLayers), len(cf.RootFS.DiffIDs))
		}
	}

	adds := make([]mutate.Addendum, 0, len(baseLayers)+len(s.Steps))
	diffIDs := append([]v1.Hash(nil), cf.RootFS.DiffIDs...)
	for _, l := range baseLayers {
		l, err := relabel(l, format)
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.Addendum{Layer: l})
	}

	created := s.Created
	if created.IsZero() {
		created = Epoch
	}
	history := append([]v1.History(nil), cf.History...)
	for i, st := range s.Steps {
		h := v1.History{
			Created:    v1.Time{Time: created.Add(time.Duration(i) * time.Second)},
			CreatedBy:  st.CreatedBy,
			Comment:    st.Comment,
			EmptyLayer: st.Empty,
		}
		history = append(history, h)
		if st.Empty {
			if len(st.Files) > 0 {
				return nil, fmt.Errorf("sample: step %d (%q): Empty step with files", i, st.CreatedBy)
			}
			continue
		}
		tb, err := tarBytes(st.Files)
		if err != nil {
			return nil, fmt.Errorf("sample: step %d (%q): %w", i, st.CreatedBy, err)
		}
		l, err := layerFromTar(tb, s.Compression, format)
		if err != nil {
			return nil, err
		}
		d, err := l.DiffID()
		if err != nil {
			return nil, err
		}
		diffIDs = append(diffIDs, d)
		adds = append(adds, mutate.Addendum{Layer: l})
	}

	cf.Created = v1.Time{Time: created}
	cf.History = history
	cf.RootFS = v1.RootFS{Type: "layers", DiffIDs: diffIDs}
	if cf.OS == "" {
		cf.OS = "linux"
	}
	if cf.Architecture == "" {
		cf.Architecture = "amd64"
	}
	if s.OS != "" {
		cf.OS = s.OS
	}
	if s.Arch != "" {
		cf.Architecture = s.Arch
		cf.Variant = s.Variant
	} else if s.Variant != "" {
		cf.Variant = s.Variant
	}
	if len(s.Labels) > 0 {
		labels := make(map[string]string, len(cf.Config.Labels)+len(s.Labels))
		for k, v := range cf.Config.Labels {
			labels[k] = v
		}
		for k, v := range s.Labels {
			labels[k] = v
		}
		cf.Config.Labels = labels
	}

	return assemble(format, adds, cf, s.Annotations)
}

// assemble makes an image of format f with the given layers, exactly the
// config file cf and the manifest annotations anns.
func assemble(f Format, adds []mutate.Addendum, cf *v1.ConfigFile, anns map[string]string) (v1.Image, error) {
	img := empty.Image
	if f == OCI {
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	} else {
		img = mutate.MediaType(img, types.DockerManifestSchema2)
		img = mutate.ConfigMediaType(img, types.DockerConfigJSON)
	}
	img, err := mutate.Append(img, adds...)
	if err != nil {
		return nil, err
	}
	// mutate.Append added its own (zero) history entries and diff_ids;
	// replace the whole config with the intended one.
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, err
	}
	if len(anns) > 0 {
		img = mutate.Annotations(img, anns).(v1.Image)
	}
	// Fail early (and not at push time) on an inconsistent image.
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	if len(m.Layers) != len(cf.RootFS.DiffIDs) {
		return nil, fmt.Errorf("sample: %d layers but %d diff_ids", len(m.Layers), len(cf.RootFS.DiffIDs))
	}
	return img, nil
}

// relabelled is a layer whose media type is overridden; its blob is
// unchanged.
type relabelled struct {
	v1.Layer
	mt types.MediaType
}

func (l relabelled) MediaType() (types.MediaType, error) { return l.mt, nil }

// relabel returns l with the media type of its compression in format f.
func relabel(l v1.Layer, f Format) (v1.Layer, error) {
	mt, err := l.MediaType()
	if err != nil {
		return nil, err
	}
	want := mt
	switch mt {
	case types.DockerLayer, types.OCILayer:
		want = layerMediaType(Gzip, f)
	case types.DockerUncompressedLayer, types.OCIUncompressedLayer:
		want = layerMediaType(Uncompressed, f)
	}
	if want == mt {
		return l, nil
	}
	return relabelled{Layer: l, mt: want}, nil
}

// Recompress returns the same image with every layer re-encoded with c: same
// config (diff_ids and history), new layer blob digests and media types. The
// manifest annotations are kept. Zstd forces the OCI format.
func Recompress(img v1.Image, c Compression, f Format) (v1.Image, error) {
	if c == Zstd {
		f = OCI
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	if !m.Config.MediaType.IsConfig() {
		return nil, fmt.Errorf("sample: recompress: config media type %q is not an image config", m.Config.MediaType)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	adds := make([]mutate.Addendum, 0, len(layers))
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, err
		}
		tb, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("sample: recompress layer %d: %w", i, err)
		}
		nl, err := layerFromTar(tb, c, f)
		if err != nil {
			return nil, err
		}
		oldID, err := l.DiffID()
		if err != nil {
			return nil, err
		}
		if newID, err := nl.DiffID(); err != nil {
			return nil, err
		} else if newID != oldID {
			return nil, fmt.Errorf("sample: recompress layer %d: diff_id %s, want %s", i, newID, oldID)
		}
		adds = append(adds, mutate.Addendum{Layer: nl})
	}
	return assemble(f, adds, cf, m.Annotations)
}

// Index returns an image index of images, in order. platforms[i] is the
// platform of images[i]; when platforms is nil they are read from the
// images' configs. Format selects the OCI image index or the Docker manifest
// list media type.
func Index(images []v1.Image, platforms []v1.Platform, f Format) (v1.ImageIndex, error) {
	if platforms != nil && len(platforms) != len(images) {
		return nil, fmt.Errorf("sample: %d images but %d platforms", len(images), len(platforms))
	}
	mt := types.DockerManifestList
	if f == OCI {
		mt = types.OCIImageIndex
	}
	adds := make([]mutate.IndexAddendum, 0, len(images))
	for i, img := range images {
		var p v1.Platform
		if platforms != nil {
			p = platforms[i]
		} else {
			cf, err := img.ConfigFile()
			if err != nil {
				return nil, err
			}
			p = v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion}
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, mt), adds...), nil
}

// emptyJSON is the content of the OCI empty descriptor used as the config of
// artifacts ("{}", media type application/vnd.oci.empty.v1+json).
var emptyJSON = []byte("{}")

// artifact implements partial.CompressedImageCore for an OCI artifact
// manifest.
type artifact struct {
	manifest []byte
	blob     v1.Layer
	config   v1.Layer
}

func (a *artifact) RawConfigFile() ([]byte, error)      { return emptyJSON, nil }
func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *artifact) RawManifest() ([]byte, error)        { return a.manifest, nil }
func (a *artifact) ConfigLayer() (v1.Layer, error)      { return a.config, nil }
func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range []v1.Layer{a.blob, a.config} {
		if d, err := l.Digest(); err != nil {
			return nil, err
		} else if d == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("sample: artifact has no blob %s", h)
}

// Artifact returns an OCI artifact manifest with the given artifactType, the
// empty config (application/vnd.oci.empty.v1+json, content "{}"), one layer
// holding content (media type artifactType) and subject as its subject.
func Artifact(artifactType string, content []byte, subject v1.Descriptor) (v1.Image, error) {
	if artifactType == "" {
		return nil, fmt.Errorf("sample: artifact: empty artifactType")
	}
	if subject.Digest == (v1.Hash{}) || subject.MediaType == "" {
		return nil, fmt.Errorf("sample: artifact: subject needs a digest and a media type")
	}
	blob := static.NewLayer(append([]byte(nil), content...), types.MediaType(artifactType))
	config := static.NewLayer(emptyJSON, types.OCIEmptyJSON)
	bd, err := partial.Descriptor(blob)
	if err != nil {
		return nil, err
	}
	cd, err := partial.Descriptor(config)
	if err != nil {
		return nil, err
	}
	subj := subject
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config:        *cd,
		Layers:        []v1.Descriptor{*bd},
		Subject:       &subj,
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&artifact{manifest: raw, blob: blob, config: config})
}
