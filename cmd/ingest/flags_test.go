package main

import (
	"strings"
	"testing"

	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
)

// Flags may follow the command's arguments, global ones too.
func TestFlagsAfterArguments(t *testing.T) {
	url := pgtest.NewDatabase(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		// Read as one ID: the item is looked up (and is not there).
		{[]string{"quarantine", "show", "abc", "--database-url", url}, `quarantine item "abc": not found`},
		{[]string{"quarantine", "drop", "abc", "def", "--database-url", url}, `quarantine item "abc": not found`},
		{[]string{"quarantine", "replay", "abc", "--database-url", url, "--registry", "localhost:1"}, `quarantine item "abc": not found`},
		{[]string{"quarantine", "show", "--database-url", url, "--", "-x"}, `quarantine item "-x": not found`},
		{[]string{"quarantine", "show", "abc", "--nope"}, "flag provided but not defined: -nope (see layerq-ingest quarantine show --help)"},
	} {
		out, _, err := runCLI(t, c.args...)
		if err == nil || err.Error() != c.want || out != "" {
			t.Errorf("%q: %q, err = %v; want %s", c.args, out, err, c.want)
		}
	}
}

// --layer-max-bytes takes units: 1kB (1000 bytes) rejects the layer, whose
// tar is a few kilobytes; 1MiB indexes it.
func TestLayerMaxBytesUnits(t *testing.T) {
	url := pgtest.NewDatabase(t)
	reg := registrytest.New(t)
	img, err := sample.Build(sample.Spec{Steps: []sample.Step{{CreatedBy: "ADD x /", Files: []sample.File{{Path: "x", Content: []byte("x")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	reg.PushImage(t, "team/app:1", img)
	out, _, err := runCLI(t, "scan", "--registry", reg.Host, "--layers", "--layer-max-bytes", "1kB", "--database-url", url)
	if err != nil || !strings.HasSuffix(out, "\nlayers: 0 indexed (0 bytes read), 0 already indexed, 1 rejected, 0 failed (see ingest_failures)\n") {
		t.Fatalf("--layer-max-bytes 1kB = %q, %v", out, err)
	}
	url2 := pgtest.NewDatabase(t)
	out, _, err = runCLI(t, "--database-url", url2, "scan", "--registry", reg.Host, "--layers", "--layer-max-bytes", "1MiB")
	if err != nil || !strings.Contains(out, "\nlayers: 1 indexed (") {
		t.Fatalf("--layer-max-bytes 1MiB = %q, %v", out, err)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"scan", "--registry", "r", "--layer-max-bytes", "10 zebras"}, `--layer-max-bytes "10 zebras": give bytes like 52428800, 50MB or 1.5GiB`},
		{[]string{"serve", "--layer-max-bytes", "8 GB please"}, `--layer-max-bytes "8 GB please": give bytes like 52428800, 50MB or 1.5GiB`},
		{[]string{"scan", "--registry", "r", "--layer-max-bytes", "0MB"}, "--layer-max-bytes and --layer-max-entries must be at least 1"},
	} {
		out, stderr, err := runCLI(t, c.args...)
		if err == nil || err.Error() != c.want || out != "" || stderr != "" {
			t.Errorf("%q: err = %v, printed %q / %q; want %s", c.args, err, out, stderr, c.want)
		}
	}
}
