// Package buildinfo says what a layerq binary is: the module version and the
// VCS revision it was built from, and the Go toolchain and platform it was
// built with, as the Go linker recorded them (runtime/debug.ReadBuildInfo).
package buildinfo

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Info is what a binary is. Its JSON keys are stable for scripts.
type Info struct {
	// Version is the module version: a release tag (v1.2.3), a
	// pseudo-version naming a commit, or "(devel)" for a build that Go
	// could not stamp with one; "(unknown)" when the binary carries no
	// build information.
	Version string `json:"version"`
	// Revision is the VCS commit the binary was built from; "" when Go did
	// not record one (go test, go run, a build outside a checkout).
	Revision string `json:"revision"`
	// Time is the commit time of Revision; nil when unknown.
	Time *time.Time `json:"time"`
	// Modified says the working tree had uncommitted changes.
	Modified bool `json:"modified"`
	// GoVersion is the Go toolchain that built the binary (go1.26.4).
	GoVersion string `json:"go_version"`
	// Platform is the os/arch the binary runs on.
	Platform string `json:"platform"`
}

// shortRevision is how many characters of a revision the one-line form
// shows, as git log --abbrev does for a large repository.
const shortRevision = 12

// Read returns what the running binary is.
func Read() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(bi)
}

// fromBuildInfo reads bi; nil is a binary without build information.
func fromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: "(unknown)", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		return info
	}
	if bi.Main.Version != "" {
		info.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	var goos, goarch string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
				t = t.UTC()
				info.Time = &t
			}
		case "vcs.modified":
			info.Modified = s.Value == "true"
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	if goos != "" && goarch != "" {
		info.Platform = goos + "/" + goarch
	}
	return info
}

// String is the version in one line, without the program's name:
// "v1.2.3 (revision 3f2a1b2c3d4e, 2025-01-02T03:04:05Z, modified) go1.26.4 linux/amd64".
// The parenthesis is left out when no revision is known.
func (i Info) String() string {
	var vcs []string
	if i.Revision != "" {
		rev := i.Revision
		if len(rev) > shortRevision {
			rev = rev[:shortRevision]
		}
		vcs = append(vcs, "revision "+rev)
	}
	if i.Time != nil {
		vcs = append(vcs, i.Time.UTC().Format(time.RFC3339))
	}
	if i.Modified {
		vcs = append(vcs, "modified")
	}
	s := i.Version
	if len(vcs) > 0 {
		s += " (" + strings.Join(vcs, ", ") + ")"
	}
	return s + " " + i.GoVersion + " " + i.Platform
}

// Line is the version of program in one line, as its version command and
// --version flag print it: "layerq version v1.2.3 (...) go1.26.4 linux/amd64".
func (i Info) Line(program string) string {
	return program + " version " + i.String()
}

// Print writes the version of program to w: one line, or JSON for
// scripts.
func (i Info) Print(w io.Writer, program string, asJSON bool) error {
	if !asJSON {
		_, err := fmt.Fprintln(w, i.Line(program))
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(i)
}
