package report

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
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
	PinnedBytes int64           `json:"pinned_bytes"`
	Dependents  []BaseDependent `json:"dependents"`
}

// Bases is the bases report, most used first.
type Bases struct {
	Bases []Base `json:"bases"`
}

// BasesOptions select the dependents the report counts.
type BasesOptions struct {
	Repositories repoglob.Glob
}

// LoadBases runs the bases report.
func LoadBases(ctx context.Context, db DB, opts BasesOptions) (*Bases, error) {
	type key struct{ registry, repository, tag string }
	re := regexpOrNil(opts.Repositories)
	var deps []dbsqlc.BasesRow
	pinned := map[key]int64{}
	err := concurrently(ctx, db,
		func(ctx context.Context) error {
			var err error
			if deps, err = queries.Bases(ctx, db, re); err != nil {
				return fmt.Errorf("querying bases: %w", err)
			}
			return nil
		},
		func(ctx context.Context) error {
			rows, err := queries.BasesPinned(ctx, db, re)
			if err != nil {
				return fmt.Errorf("querying bytes pinned by stale bases: %w", err)
			}
			for _, r := range rows {
				pinned[key{r.BaseRegistry, r.BaseRepository, value(r.BaseTag)}] = r.PinnedBytes
			}
			return nil
		},
	)
	if err != nil {
		return nil, err
	}

	index := map[key]int{}
	out := &Bases{Bases: []Base{}}
	builds := map[key]map[string]bool{} // build digest -> stale
	dependents := map[key]map[[2]string]*BaseDependent{}
	for _, r := range deps {
		// base_builds leaves none of these NULL.
		k, build, stale := key{r.BaseRegistry, r.BaseRepository, value(r.BaseTag)}, value(r.BaseDigest), value(r.Stale)
		i, ok := index[k]
		if !ok {
			i = len(out.Bases)
			index[k] = i
			out.Bases = append(out.Bases, Base{Registry: k.registry, Repository: k.repository, Tag: k.tag, PinnedBytes: pinned[k]})
			builds[k], dependents[k] = map[string]bool{}, map[[2]string]*BaseDependent{}
		}
		b := &out.Bases[i]
		if r.CurrentDigest != "" && (stale || b.Current == "") {
			b.Current = r.CurrentDigest
		}
		builds[k][build] = stale
		dk := [2]string{r.Registry, r.Repository}
		d := dependents[k][dk]
		if d == nil {
			d = &BaseDependent{Registry: r.Registry, Repository: r.Repository}
			dependents[k][dk] = d
		}
		d.Images += r.Images
		b.Images += r.Images
		if stale {
			d.StaleImages += r.Images
			b.StaleImages += r.Images
		}
	}
	for i := range out.Bases {
		b := &out.Bases[i]
		k := key{b.Registry, b.Repository, b.Tag}
		b.Builds = len(builds[k])
		for _, stale := range builds[k] {
			if stale {
				b.StaleBuilds++
			}
		}
		for _, d := range dependents[k] {
			b.Dependents = append(b.Dependents, *d)
			if d.StaleImages > 0 {
				b.StaleRepositories++
			}
		}
		b.Repositories = len(b.Dependents)
		slices.SortFunc(b.Dependents, func(x, y BaseDependent) int {
			return cmp.Or(cmp.Compare(y.Images, x.Images), cmp.Compare(x.Repository, y.Repository), cmp.Compare(x.Registry, y.Registry))
		})
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
			x.StaleImages, x.StaleRepositories, output.Bytes(x.PinnedBytes), dependents(x.Dependents)})
	}
	return out
}

// dependents is a base's dependents in a cell: the top three in a table,
// every one as JSON in CSV.
type dependents []BaseDependent

func (d dependents) String() string {
	var top []string
	for _, x := range d[:min(3, len(d))] {
		top = append(top, fmt.Sprintf("%s (%d)", x.Repository, x.Images))
	}
	if len(d) > 3 {
		top = append(top, fmt.Sprintf("%d more", len(d)-3))
	}
	return strings.Join(top, ", ")
}

// Record implements output.Recorder.
func (d dependents) Record() string {
	b, _ := json.Marshal([]BaseDependent(d))
	return string(b)
}
