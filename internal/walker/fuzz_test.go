package walker

import (
	"encoding/json"
	"reflect"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/layerq/layerq/internal/sample"
)

// seeds are real manifests and configs: OCI and Docker images, an index, an
// artifact, and the demo's images.
func seeds(f *testing.F) (manifests, configs [][]byte) {
	f.Helper()
	add := func(img v1.Image) {
		m, _ := img.RawManifest()
		c, _ := img.RawConfigFile()
		manifests, configs = append(manifests, m), append(configs, c)
	}
	items, err := sample.DemoContent()
	if err != nil {
		f.Fatal(err)
	}
	for _, it := range items {
		switch {
		case it.Image != nil:
			add(it.Image)
		case it.Index != nil:
			m, _ := it.Index.RawManifest()
			manifests = append(manifests, m)
		}
	}
	for _, format := range []sample.Format{sample.OCI, sample.Docker} {
		img, err := sample.Build(sample.Spec{Format: format, Labels: map[string]string{"a": "b"},
			Steps: []sample.Step{{CreatedBy: "RUN x", Files: []sample.File{{Path: "x", Content: []byte("x")}}}, {CreatedBy: "ENV A=1", Empty: true}}})
		if err != nil {
			f.Fatal(err)
		}
		add(img)
	}
	return manifests, configs
}

// The hand-written manifest parser agrees with encoding/json on everything
// it accepts, and no manifest makes the readers panic.
func FuzzManifest(f *testing.F) {
	ms, _ := seeds(f)
	for _, m := range ms {
		f.Add(m)
	}
	f.Add([]byte(`{"schemaVersion":1,"fsLayers":[]}`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"digest":"sha256:00","platform":{"os":"linux"}}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if fast, ok := fastManifest(raw); ok {
			var std manifestDoc
			if err := json.Unmarshal(raw, &std); err != nil {
				t.Fatalf("the fast parser accepts what encoding/json refuses (%v): %q", err, raw)
			}
			if !reflect.DeepEqual(*fast, std) {
				t.Fatalf("parsers disagree on %q:\nfast %+v\njson %+v", raw, *fast, std)
			}
		}
		doc, _, _, err := readManifest(raw, "application/vnd.oci.image.manifest.v1+json")
		if err != nil || doc == nil {
			return
		}
		readImage(raw, doc)
		readIndex(raw, doc)
		readArtifact(raw, doc)
	})
}

// Likewise for image configs.
func FuzzConfig(f *testing.F) {
	_, cs := seeds(f)
	for _, c := range cs {
		f.Add(c)
	}
	f.Add([]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"history":[{"empty_layer":true}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if fast, ok := fastConfig(raw); ok {
			var std configDoc
			if err := json.Unmarshal(raw, &std); err != nil {
				t.Fatalf("the fast parser accepts what encoding/json refuses (%v): %q", err, raw)
			}
			if !reflect.DeepEqual(*fast, std) {
				t.Fatalf("parsers disagree on %q:\nfast %+v\njson %+v", raw, *fast, std)
			}
		}
		readConfig(raw)
	})
}
