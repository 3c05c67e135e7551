package report

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ErrNotFound means a reference names nothing live in the graph.
var ErrNotFound = errors.New("not found")

// Ref is a parsed image reference: [registry/]repository[:tag|@digest].
type Ref struct {
	Repository string
	Tag        string
	Digest     string
}

// ParseRef parses an image reference; a reference with neither tag nor
// digest means the tag "latest".
func ParseRef(s string) (Ref, error) {
	if s == "" {
		return Ref{}, errors.New("empty image reference: give REPOSITORY:TAG or REPOSITORY@sha256:DIGEST")
	}
	var r Ref
	if repo, digest, ok := strings.Cut(s, "@"); ok {
		if !strings.HasPrefix(digest, "sha256:") || len(digest) != len("sha256:")+64 {
			return Ref{}, fmt.Errorf("bad digest in %q: want sha256: followed by 64 hex digits", s)
		}
		r.Repository, r.Digest = repo, digest
	} else {
		r.Repository, r.Tag = s, "latest"
		if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
			r.Repository, r.Tag = s[:i], s[i+1:]
		}
	}
	if r.Repository == "" || r.Tag == "" && r.Digest == "" {
		return Ref{}, fmt.Errorf("bad image reference %q: give REPOSITORY:TAG or REPOSITORY@sha256:DIGEST", s)
	}
	return r, nil
}

// String renders the reference as given.
func (r Ref) String() string {
	if r.Digest != "" {
		return r.Repository + "@" + r.Digest
	}
	return r.Repository + ":" + r.Tag
}

// resolve finds the one live manifest ref names and loads it; kind is the
// manifest's ("image", "index" or "artifact").
func resolve(ctx context.Context, db DB, ref Ref) (img *Image, kind string, err error) {
	rows, qerr := db.Query(ctx, qImageResolve, ref.Repository, ref.Tag, ref.Digest)
	if qerr != nil {
		return nil, "", fmt.Errorf("resolving %s: %w", ref, qerr)
	}
	type hit struct{ registry, name, digest, tag string }
	var hits []hit
	var h hit
	if _, err := pgx.ForEachRow(rows, []any{&h.registry, &h.name, &h.digest, &h.tag}, func() error {
		hits = append(hits, h)
		return nil
	}); err != nil {
		return nil, "", fmt.Errorf("resolving %s: %w", ref, err)
	}
	switch {
	case len(hits) == 0:
		return nil, "", fmt.Errorf("%s: %w in the graph (check the name with a scan, or the tag may be deleted)", ref, ErrNotFound)
	case len(hits) > 1:
		var names []string
		for _, h := range hits {
			names = append(names, h.registry+"/"+h.name)
		}
		return nil, "", fmt.Errorf("%s is ambiguous: it is in %s; prefix the registry", ref, strings.Join(names, ", "))
	}
	img = &Image{Registry: hits[0].registry, Repository: hits[0].name, Tag: hits[0].tag, Digest: hits[0].digest, Layers: []ImageLayer{}}
	kind, err = img.loadManifest(ctx, db)
	if err != nil {
		return nil, "", err
	}
	return img, kind, nil
}
