package report

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
)

// BaseDependent is one repository's live images on a base.
type BaseDependent struct {
	Registry    string `json:"registry"`
	Repository  string `json:"repository"`
	Images      int64  `json:"images"`
	StaleImages int64  `json:"stale_images"`
}

// Base is one base image (a repository and the tag that names its builds)
// and the live images built on it. An image's base is the image whose whole
// chain of layers is the longest prefix of its own among images seen in
// other repositories, or the one its org.opencontainers.image.base.digest
// annotation names. A dependent is stale when its base build is no longer
// what the base's tag points at.
type Base struct {
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	// Tag is the tag that points (or last pointed) at the builds in use;
	// empty when layerq never saw one.
	Tag string `json:"tag"`
	// Current is the build the tag points at now (its platform's image).
	Current           string `json:"current_digest"`
	Builds            int    `json:"builds_in_use"`
	StaleBuilds       int    `json:"stale_builds"`
	Images            int64  `json:"images"`
	Repositories      int    `json:"repositories"`
	StaleImages       int64  `json:"stale_images"`
	StaleRepositories int    `json:"stale_repositories"`
	// PinnedBytes are the layers of the stale builds that the current
	// build does not have: kept stored only for the images still on them.
	PinnedBytes int64 `json:"pinned_bytes"`
	// Dependents are the top dependent repositories (most images first;
	// BasesOptions.Dependents), of Repositories in all.
	Dependents []BaseDependent `json:"dependents"`
}

// Bases is the bases report, most used first.
type Bases struct {
	Bases []Base `json:"bases"`
}

// BasesOptions select the dependents the report counts.
type BasesOptions struct {
	Repositories repoglob.Glob
	// Dependents is how many of each base's dependent repositories to
	// list, those with the most images first (0: all); the counts cover
	// every one.
	Dependents int
}

// LoadBases runs the bases report.
func LoadBases(ctx context.Context, db DB, opts BasesOptions) (*Bases, error) {
	if opts.Dependents < 0 {
		return nil, fmt.Errorf("--dependents must not be negative, got %d", opts.Dependents)
	}
	type key struct{ registry, repository, tag string }
	re := regexpOrNil(opts.Repositories)
	rows, err := queries.Bases(ctx, db, dbsqlc.BasesParams{Repository: re, Top: int32(min(opts.Dependents, math.MaxInt32))})
	if err != nil {
		return nil, fmt.Errorf("querying bases: %w", err)
	}

	// Builds come first, by base and digest; then each base's dependents,
	// the most images first; then the bytes each base's stale builds keep.
	index := map[key]int{}
	out := &Bases{Bases: []Base{}}
	for _, r := range rows {
		// base_builds leaves none of these NULL.
		k, stale := key{r.BaseRegistry, r.BaseRepository, value(r.BaseTag)}, value(r.Stale)
		i, ok := index[k]
		switch {
		case r.What == "build" && !ok:
			i = len(out.Bases)
			index[k] = i
			out.Bases = append(out.Bases, Base{Registry: k.registry, Repository: k.repository, Tag: k.tag, Dependents: []BaseDependent{}})
		case !ok:
			continue // a dependent of no build read (the view read once: none)
		}
		b := &out.Bases[i]
		if r.What == "pinned" {
			b.PinnedBytes = r.Images
			continue
		}
		if r.What == "dependent" {
			b.Repositories, b.StaleRepositories = int(r.Repositories), int(r.StaleRepositories)
			b.Dependents = append(b.Dependents, BaseDependent{Registry: r.Registry, Repository: r.Repository, Images: r.Images, StaleImages: r.StaleImages})
			continue
		}
		if r.CurrentDigest != "" && (stale || b.Current == "") {
			b.Current = r.CurrentDigest
		}
		b.Builds++
		b.Images += r.Images
		if stale {
			b.StaleBuilds++
			b.StaleImages += r.Images
		}
	}
	slices.SortFunc(out.Bases, func(x, y Base) int {
		return cmp.Or(cmp.Compare(y.Images, x.Images), cmp.Compare(x.Registry, y.Registry),
			cmp.Compare(x.Repository, y.Repository), cmp.Compare(x.Tag, y.Tag))
	})
	return out, nil
}

// Columns implements output.Table.
func (b *Bases) Columns() []output.Column {
	return []output.Column{{Key: "registry", Wide: true}, {Key: "repository", Title: "BASE"}, {Key: "tag"},
		{Key: "current_digest", Title: "CURRENT"}, {Key: "builds_in_use", Title: "BUILDS"},
		{Key: "stale_builds", Title: "OUTDATED BUILDS", Wide: true}, {Key: "images"}, {Key: "repositories", Title: "REPOS", Wide: true},
		{Key: "stale_images", Title: "OUTDATED"}, {Key: "stale_repositories", Title: "OUTDATED REPOS", Wide: true},
		{Key: "pinned_bytes", Title: "KEPT"}, {Key: "dependents", Title: "TOP DEPENDENTS"}}
}

// Preamble implements output.Preamble: what the columns count.
func (b *Bases) Preamble() []string {
	return []string{
		"BUILDS: the base's builds live images are built on. OUTDATED: images on a build the base's tag no longer points at.",
		"KEPT: what the registry stores only for those images (the outdated builds' layers the current build does not have).",
		"",
	}
}

// Empty implements output.Empty.
func (b *Bases) Empty() string {
	return "no live image is built on an image of another repository yet"
}

// Rows implements output.Table.
func (b *Bases) Rows() [][]any {
	out := make([][]any, 0, len(b.Bases))
	for _, x := range b.Bases {
		out = append(out, []any{x.Registry, x.Repository, x.Tag, output.Digest(x.Current), x.Builds, x.StaleBuilds, x.Images, x.Repositories,
			x.StaleImages, x.StaleRepositories, output.Bytes(x.PinnedBytes), dependents{x.Dependents, x.Repositories}})
	}
	return out
}

// dependents is a base's dependents in a cell: the top three in a table
// with how many more there are, every one listed as JSON in CSV.
type dependents struct {
	list  []BaseDependent
	total int // the base's dependent repositories, listed or not
}

func (d dependents) String() string {
	var top []string
	for _, x := range d.list[:min(3, len(d.list))] {
		top = append(top, fmt.Sprintf("%s (%d)", x.Repository, x.Images))
	}
	if n := d.total - min(3, len(d.list)); n > 0 {
		top = append(top, fmt.Sprintf("%d more", n))
	}
	return strings.Join(top, ", ")
}

// Record implements output.Recorder.
func (d dependents) Record() string {
	b, _ := json.Marshal(d.list)
	return string(b)
}
