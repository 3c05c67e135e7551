package buildinfo

import (
	"bytes"
	"encoding/json"
	"runtime"
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	t.Parallel()
	here := runtime.GOOS + "/" + runtime.GOARCH
	cases := []struct {
		name string
		bi   *debug.BuildInfo
		line string
		json string
	}{
		{
			name: "release from a dirty checkout",
			bi: &debug.BuildInfo{GoVersion: "go1.26.4", Main: debug.Module{Path: "github.com/layerq/layerq", Version: "v1.2.3"}, Settings: []debug.BuildSetting{
				{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm64"},
				{Key: "vcs", Value: "git"},
				{Key: "vcs.revision", Value: "3f2a1b2c3d4e5f60718293a4b5c6d7e8f9012345"},
				{Key: "vcs.time", Value: "2025-01-02T04:04:05+01:00"},
				{Key: "vcs.modified", Value: "true"},
			}},
			line: "layerq version v1.2.3 (revision 3f2a1b2c3d4e, 2025-01-02T03:04:05Z, modified) go1.26.4 linux/arm64",
			json: `{"version":"v1.2.3","revision":"3f2a1b2c3d4e5f60718293a4b5c6d7e8f9012345","time":"2025-01-02T03:04:05Z","modified":true,"go_version":"go1.26.4","platform":"linux/arm64"}`,
		},
		{
			name: "clean checkout",
			bi: &debug.BuildInfo{GoVersion: "go1.26.4", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "GOOS", Value: "darwin"}, {Key: "GOARCH", Value: "amd64"},
				{Key: "vcs.revision", Value: "abc"},
				{Key: "vcs.modified", Value: "false"},
			}},
			line: "layerq version (devel) (revision abc) go1.26.4 darwin/amd64",
			json: `{"version":"(devel)","revision":"abc","time":null,"modified":false,"go_version":"go1.26.4","platform":"darwin/amd64"}`,
		},
		{
			name: "no VCS information (go test, go run)",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.4.0"}},
			line: "layerq version v0.4.0 go1.26.0 " + here,
			json: `{"version":"v0.4.0","revision":"","time":null,"modified":false,"go_version":"go1.26.0","platform":"` + here + `"}`,
		},
		{
			name: "no build information",
			line: "layerq version (unknown) " + runtime.Version() + " " + here,
			json: `{"version":"(unknown)","revision":"","time":null,"modified":false,"go_version":"` + runtime.Version() + `","platform":"` + here + `"}`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info := fromBuildInfo(c.bi)
			var line bytes.Buffer
			if err := info.Print(&line, "layerq", false); err != nil {
				t.Fatal(err)
			}
			if line.String() != c.line+"\n" {
				t.Errorf("line = %q, want %q", line.String(), c.line)
			}
			var out bytes.Buffer
			if err := info.Print(&out, "layerq", true); err != nil {
				t.Fatal(err)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, out.Bytes()); err != nil {
				t.Fatalf("%v in %s", err, out.String())
			}
			if compact.String() != c.json {
				t.Errorf("json = %s\nwant   %s", compact.String(), c.json)
			}
		})
	}
}

// The test binary itself: Go records the toolchain that built it.
func TestRead(t *testing.T) {
	t.Parallel()
	info := Read()
	if info.GoVersion != runtime.Version() || info.Platform != runtime.GOOS+"/"+runtime.GOARCH || info.Version == "" {
		t.Errorf("Read() = %+v; want %s on %s/%s", info, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
}
