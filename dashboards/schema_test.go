package dashboards_test

import (
	"io/fs"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	grafana "github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/layerq/layerq/dashboards"
)

// Each dashboard decodes strictly into Grafana's own dashboard schema (the
// Grafana Foundation SDK's types, generated from Grafana's schemas): no
// unknown or mistyped field, and the schema's constraints hold.
func TestDashboardsFollowGrafanaSchema(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	files, _ := fs.Glob(dashboards.Files, "*.json")
	for _, f := range files {
		b, _ := dashboards.Files.ReadFile(f)
		var d grafana.Dashboard
		if err := sdkError(d.UnmarshalJSONStrict(b)); err != nil {
			t.Errorf("%s: decoding: %v", f, err)
			continue
		}
		if err := sdkError(d.Validate()); err != nil {
			t.Errorf("%s: validating: %v", f, err)
		}
	}
}

// sdkError turns the SDK's empty error list (a non-nil error holding no
// error) into nil.
func sdkError(err error) error {
	if be, ok := err.(cog.BuildErrors); ok && len(be) == 0 {
		return nil
	}
	return err
}
