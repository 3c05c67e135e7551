package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/xrash/smetrics"

	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/output"
)

// ErrNotFound means a reference names nothing live in the graph. It is
// dbsqlc.ErrNotFound (graph.ErrNotFound too): one error for "not there",
// whichever package looked.
var ErrNotFound = dbsqlc.ErrNotFound

// ErrAmbiguous means a reference names more than one manifest: a short
// digest that starts several, or a repository name in several registries.
var ErrAmbiguous = errors.New("ambiguous")

// MinShortDigest is the fewest hex digits a short digest may have.
const MinShortDigest = 4

// Ref is a parsed image reference: [registry/]repository[:tag|@digest], or
// a digest alone.
type Ref struct {
	// Repository is "name" or "registry/name"; "" in a digest alone.
	Repository string
	// Tag is "" when Digest is set.
	Tag string
	// Digest is "sha256:" and 64 hex digits, or a short digest: "sha256:"
	// and the first MinShortDigest or more of them, which must start one
	// manifest only.
	Digest string
	// word is a digest alone as typed when it is hex digits only: it may
	// be a repository name too (with the tag "latest"), which wins.
	word string
}

// ParseRef parses an image reference; a reference with neither tag nor
// digest means the tag "latest". A digest may be short (its first hex
// digits, at least MinShortDigest, with or without "sha256:"), and may come
// alone, without a repository.
func ParseRef(s string) (Ref, error) {
	if s == "" {
		return Ref{}, errors.New("empty image reference: give REPOSITORY:TAG, REPOSITORY@DIGEST or a DIGEST alone")
	}
	if !strings.ContainsAny(s, "/@") {
		if strings.HasPrefix(s, "sha256:") {
			d, ok := parseDigest(s)
			if !ok {
				return Ref{}, badDigest(s)
			}
			return Ref{Digest: d}, nil
		}
		if d, ok := parseDigest(s); ok {
			return Ref{Digest: d, word: s}, nil
		}
	}
	var r Ref
	if repo, digest, ok := strings.Cut(s, "@"); ok {
		d, ok := parseDigest(digest)
		if !ok {
			return Ref{}, badDigest(s)
		}
		r.Repository, r.Digest = repo, d
	} else {
		r.Repository, r.Tag = s, "latest"
		if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
			r.Repository, r.Tag = s[:i], s[i+1:]
		}
	}
	if r.Repository == "" || r.Tag == "" && r.Digest == "" {
		return Ref{}, fmt.Errorf("bad image reference %q: give REPOSITORY:TAG, REPOSITORY@DIGEST or a DIGEST alone", s)
	}
	return r, nil
}

func badDigest(s string) error {
	return fmt.Errorf("bad digest in %q: want sha256: and 64 hex digits, or the first %d or more of them", s, MinShortDigest)
}

// parseDigest reads a whole or short sha256 digest, with or without its
// "sha256:", as "sha256:" and lower-case hex.
func parseDigest(s string) (string, bool) {
	hex := strings.TrimPrefix(s, "sha256:")
	if len(hex) < MinShortDigest || len(hex) > 64 {
		return "", false
	}
	for _, c := range hex {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return "", false
		}
	}
	return "sha256:" + strings.ToLower(hex), true
}

// String renders the reference as given (a digest with its "sha256:").
func (r Ref) String() string {
	switch {
	case r.Repository == "" && r.word != "":
		return r.word
	case r.Repository == "":
		return r.Digest
	case r.Digest != "":
		return r.Repository + "@" + r.Digest
	}
	return r.Repository + ":" + r.Tag
}

// short says whether the reference's digest is a short one.
func (r Ref) short() bool {
	return r.Digest != "" && len(r.Digest) < len("sha256:")+64
}

// refError says why a reference names no manifest, or more than one, and
// how to fix it; it unwraps to ErrNotFound or ErrAmbiguous.
type refError struct {
	kind error
	msg  string
}

func (e *refError) Error() string { return e.msg }
func (e *refError) Unwrap() error { return e.kind }

func refErrorf(kind error, format string, args ...any) error {
	return &refError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// hit is a live manifest a reference names, in one repository.
type hit struct{ registry, name, digest, tag string }

// resolve finds the one live manifest ref names and loads it; kind is the
// manifest's ("image", "index" or "artifact"). When ref names none, the
// error says which part of it is unknown, and what the graph holds near it.
func resolve(ctx context.Context, db DB, ref Ref) (img *Image, kind string, err error) {
	hits, byName, err := lookup(ctx, db, ref)
	if err != nil {
		return nil, "", fmt.Errorf("resolving %s: %w", ref, err)
	}
	if len(hits) == 0 {
		return nil, "", notFound(ctx, db, ref)
	}
	if digests := digestsOf(hits); ref.Digest != "" && !byName && len(digests) > 1 {
		return nil, "", ambiguousDigest(ref, hits, digests)
	}
	if len(hits) > 1 && (ref.Repository != "" || byName) {
		var where []string
		for _, h := range hits {
			where = append(where, h.registry+"/"+h.name)
		}
		return nil, "", refErrorf(ErrAmbiguous, "%s is ambiguous: it is in %s; prefix the registry", ref, strings.Join(where, ", "))
	}
	img = &Image{Registry: hits[0].registry, Repository: hits[0].name, Tag: hits[0].tag, Digest: hits[0].digest, Layers: []ImageLayer{}}
	kind, err = img.loadManifest(ctx, db)
	if err != nil {
		return nil, "", err
	}
	return img, kind, nil
}

// lookup returns the live manifests ref names. A digest alone names live
// images and indexes in any repository, one hit per digest (the repository
// where a tag names it, if any); a digest alone that is a word of hex digits
// names the repository of that name first (byName), as docker reads it.
func lookup(ctx context.Context, db DB, ref Ref) (hits []hit, byName bool, err error) {
	if ref.Repository != "" {
		hits, err = namedHits(ctx, db, ref.Repository, ref.Tag, ref.Digest)
		return hits, false, err
	}
	if ref.word != "" {
		hits, err = namedHits(ctx, db, ref.word, "latest", "")
		if err != nil || len(hits) > 0 {
			return hits, true, err
		}
	}
	ms, err := memberships(ctx, db, ref.Digest)
	if err != nil {
		return nil, false, err
	}
	for _, m := range ms {
		if m.deleted == nil && m.kind != "artifact" && (len(hits) == 0 || hits[len(hits)-1].digest != m.digest) {
			hits = append(hits, hit{registry: m.registry, name: m.repository, digest: m.digest})
		}
	}
	return hits, false, nil
}

func namedHits(ctx context.Context, db DB, repository, tag, digest string) ([]hit, error) {
	rows, err := queries.ImageResolve(ctx, db, dbsqlc.ImageResolveParams{Repository: repository, Tag: tag, Digest: digest})
	if err != nil {
		return nil, err
	}
	var hits []hit
	for _, r := range rows {
		hits = append(hits, hit{registry: r.Registry, name: r.Repository, digest: r.ManifestDigest, tag: r.Tag})
	}
	return hits, nil
}

func digestsOf(hits []hit) []string {
	var ds []string
	for _, h := range hits {
		if !slices.Contains(ds, h.digest) {
			ds = append(ds, h.digest)
		}
	}
	return ds
}

// maxListed is how many names, tags or candidates a message lists.
const maxListed = 5

// ambiguousDigest is the error for a short digest that starts several
// manifests: it lists them, each in a repository holding it.
func ambiguousDigest(ref Ref, hits []hit, digests []string) error {
	width := distinctWidth(digests)
	var cands []string
	for _, d := range digests {
		for _, h := range hits {
			if h.digest == d {
				cands = append(cands, h.registry+"/"+h.name+"@"+strings.TrimPrefix(d, "sha256:")[:width])
				break
			}
		}
	}
	return refErrorf(ErrAmbiguous, "%s is ambiguous: %d manifests have digests starting %s: %s; give more digits",
		ref, len(digests), hexOf(ref.Digest), listed(cands, maxListed, "and"))
}

// distinctWidth is how many hex digits tell digests apart: as many as the
// tables print, or more when those are alike.
func distinctWidth(digests []string) int {
	for w := output.ShortDigest; w < 64; w++ {
		seen := map[string]bool{}
		for _, d := range digests {
			seen[strings.TrimPrefix(d, "sha256:")[:w]] = true
		}
		if len(seen) == len(digests) {
			return w
		}
	}
	return 64
}

func hexOf(digest string) string { return strings.TrimPrefix(digest, "sha256:") }

func shortOf(digest string) string { return output.Digest(digest).Short() }

// listed joins items with commas, the last with conj ("or", "and"; "" for
// a comma); past max, it says how many more there are.
func listed(items []string, max int, conj string) string {
	if len(items) > max {
		return strings.Join(items[:max], ", ") + fmt.Sprintf(" and %d more", len(items)-max)
	}
	if conj == "" || len(items) < 2 {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:len(items)-1], ", ") + " " + conj + " " + items[len(items)-1]
}

// stamp is a deletion time in messages.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// membership is a manifest in a repository, live or deleted from it.
type membership struct {
	registry, repository, digest, kind string
	deleted                            *time.Time
	tagged                             bool
}

// memberships are the repositories that hold or held a manifest whose
// digest starts with digest (see ref_digest.sql for the order).
func memberships(ctx context.Context, db DB, digest string) ([]membership, error) {
	rows, err := queries.RefDigest(ctx, db, digest)
	if err != nil {
		return nil, err
	}
	var ms []membership
	for _, r := range rows {
		ms = append(ms, membership{registry: r.Registry, repository: r.Repository, digest: r.ManifestDigest, kind: r.Kind,
			deleted: r.DeletedAt, tagged: r.Tagged})
	}
	return ms, nil
}

// knownRepository is a repository of the graph.
type knownRepository struct {
	id             int64
	registry, name string
	live           bool
}

func (r knownRepository) full() string { return r.registry + "/" + r.name }

func repositories(ctx context.Context, db DB) ([]knownRepository, error) {
	rows, err := queries.RefRepositories(ctx, db)
	if err != nil {
		return nil, err
	}
	var rs []knownRepository
	for _, r := range rows {
		rs = append(rs, knownRepository{id: r.ID, registry: r.Registry, name: r.Name, live: r.Live})
	}
	return rs, nil
}

// notFound explains why ref names no live manifest: which part of it the
// graph does not know (registry, repository, tag or digest), or that it
// was deleted, and what the graph holds near it.
func notFound(ctx context.Context, db DB, ref Ref) error {
	var err error
	if ref.Repository == "" {
		err = digestNotFound(ctx, db, ref)
	} else {
		err = repositoryPartNotFound(ctx, db, ref)
	}
	var re *refError
	if !errors.As(err, &re) {
		return fmt.Errorf("%s: %w in the graph (looking for what is near it failed: %v)", ref, ErrNotFound, err)
	}
	return err
}

// digestNotFound explains a digest alone that names no live image or index.
func digestNotFound(ctx context.Context, db DB, ref Ref) error {
	ms, err := memberships(ctx, db, ref.Digest)
	if err != nil {
		return err
	}
	var artifacts []string
	for _, m := range ms {
		if m.deleted == nil && m.kind == "artifact" && !slices.Contains(artifacts, m.registry+"/"+m.repository) {
			artifacts = append(artifacts, m.registry+"/"+m.repository)
		}
	}
	if len(artifacts) > 0 {
		return refErrorf(ErrNotFound, "%s: the manifest with that digest is an artifact, not an image (it is in %s)", ref, listed(artifacts, maxListed, "and"))
	}
	if len(ms) > 0 {
		return deletedManifest(ref, ms)
	}
	what := noDigest(ref)
	if ref.word != "" {
		repos, err := repositories(ctx, db)
		if err != nil {
			return err
		}
		if matched := repositoriesNamed(repos, ref.word); len(matched) > 0 {
			// The word is a repository's name: it lacks the tag latest.
			return tagNotFound(ctx, db, Ref{Repository: ref.word, Tag: "latest"}, matched)
		}
		what += fmt.Sprintf(", and no repository is named %s", ref.word)
	}
	return refErrorf(ErrNotFound, "%s: %s; check the digest, or scan the registry that holds it", ref, what)
}

// noDigest says that no manifest has ref's digest.
func noDigest(ref Ref) string {
	if ref.short() {
		return "no manifest in the graph has a digest starting " + hexOf(ref.Digest)
	}
	return "no manifest in the graph has that digest"
}

// repositoriesNamed are the repositories name names, as "name" or
// "registry/name".
func repositoriesNamed(repos []knownRepository, name string) []knownRepository {
	var out []knownRepository
	for _, r := range repos {
		if r.name == name || r.full() == name {
			out = append(out, r)
		}
	}
	return out
}

// deletedManifest is the error for a digest found only in memberships
// that were deleted: it names the latest deletion.
func deletedManifest(ref Ref, ms []membership) error {
	latest := ms[0]
	for _, m := range ms[1:] {
		if m.deleted.After(*latest.deleted) {
			latest = m
		}
	}
	return refErrorf(ErrNotFound, "%s: manifest %s was deleted from %s/%s at %s",
		ref, shortOf(latest.digest), latest.registry, latest.repository, stamp(*latest.deleted))
}

// repositoryPartNotFound explains a reference with a repository that names
// no live manifest.
func repositoryPartNotFound(ctx context.Context, db DB, ref Ref) error {
	repos, err := repositories(ctx, db)
	if err != nil {
		return err
	}
	matched := repositoriesNamed(repos, ref.Repository)
	switch {
	case len(matched) == 0:
		return unknownRepository(ctx, db, ref, repos)
	case ref.Digest != "":
		return digestNotInRepository(ctx, db, ref, matched)
	}
	return tagNotFound(ctx, db, ref, matched)
}

// refTag is a tag of a repository, live or deleted.
type refTag struct {
	repository int64
	name       string
	updated    time.Time
	deleted    *time.Time
}

// refTags are the tags of repos, the latest moved first.
func refTags(ctx context.Context, db DB, repos []knownRepository) ([]refTag, error) {
	ids := make([]int64, len(repos))
	for i, r := range repos {
		ids[i] = r.id
	}
	rows, err := queries.RefTags(ctx, db, ids)
	if err != nil {
		return nil, err
	}
	var ts []refTag
	for _, r := range rows {
		ts = append(ts, refTag{repository: r.RepositoryID, name: r.Name, updated: r.UpdatedAt, deleted: r.DeletedAt})
	}
	return ts, nil
}

// liveTags says which live tags there are among ts, the latest moved
// first, for a message: "; live tags, newest first: 3, 2, 1 and 4 more",
// or "; live tags of reg/app, newest first: ..." when of names the
// repositories.
func liveTags(ts []refTag, of string) string {
	var live []string
	for _, t := range ts {
		if t.deleted == nil && !slices.Contains(live, t.name) {
			live = append(live, t.name)
		}
	}
	switch {
	case len(live) == 0 && of == "":
		return "; it has no live tags"
	case len(live) == 0:
		return "; " + of + " has no live tags"
	case of == "":
		return "; live tags, newest first: " + listed(live, maxListed, "")
	}
	return "; live tags of " + of + ", newest first: " + listed(live, maxListed, "")
}

// orList names repos: "reg/a or reg/b".
func orList(repos []knownRepository) string {
	var ns []string
	for _, r := range repos {
		ns = append(ns, r.full())
	}
	return listed(ns, maxListed, "or")
}

func byID(repos []knownRepository, id int64) knownRepository {
	for _, r := range repos {
		if r.id == id {
			return r
		}
	}
	return knownRepository{}
}

// tagNotFound explains a tag that names no live manifest in the
// repositories the reference names.
func tagNotFound(ctx context.Context, db DB, ref Ref, repos []knownRepository) error {
	ts, err := refTags(ctx, db, repos)
	if err != nil {
		return err
	}
	var gone *refTag
	for i, t := range ts {
		if t.name != ref.Tag {
			continue
		}
		if t.deleted == nil {
			// A live tag whose manifest is no longer live in its repository.
			return refErrorf(ErrNotFound, "%s: tag %q of %s names a manifest deleted from it%s",
				ref, ref.Tag, byID(repos, t.repository).full(), liveTags(ts, ""))
		}
		if gone == nil || t.deleted.After(*gone.deleted) {
			gone = &ts[i]
		}
	}
	if gone != nil {
		return refErrorf(ErrNotFound, "%s: tag %q was deleted from %s at %s%s",
			ref, ref.Tag, byID(repos, gone.repository).full(), stamp(*gone.deleted), liveTags(ts, ""))
	}
	return refErrorf(ErrNotFound, "%s: %s has no tag %q%s", ref, orList(repos), ref.Tag, liveTags(ts, ""))
}

// digestNotInRepository explains a digest that names no live manifest in
// the repositories the reference names.
func digestNotInRepository(ctx context.Context, db DB, ref Ref, repos []knownRepository) error {
	ms, err := memberships(ctx, db, ref.Digest)
	if err != nil {
		return err
	}
	var here, elsewhere []membership
	for _, m := range ms {
		in := slices.ContainsFunc(repos, func(r knownRepository) bool { return r.registry == m.registry && r.name == m.repository })
		switch {
		case in && m.deleted != nil:
			here = append(here, m)
		case !in && m.deleted == nil:
			elsewhere = append(elsewhere, m)
		}
	}
	if len(here) > 0 {
		return deletedManifest(ref, here)
	}
	if len(elsewhere) > 0 {
		var where []string
		for _, m := range elsewhere {
			where = append(where, m.registry+"/"+m.repository+"@"+shortOf(m.digest))
		}
		what := "has no manifest whose digest starts with " + hexOf(ref.Digest)
		if !ref.short() {
			what = "has no manifest with that digest"
		}
		return refErrorf(ErrNotFound, "%s: %s %s; did you mean %s?", ref, orList(repos), what, listed(where, maxListed, "or"))
	}
	ts, err := refTags(ctx, db, repos)
	if err != nil {
		return err
	}
	return refErrorf(ErrNotFound, "%s: %s%s", ref, noDigest(ref), liveTags(ts, orList(repos)))
}

// unknownRepository explains a reference whose repository the graph does
// not know: a registry it does not know, or a name none of its registries
// holds.
func unknownRepository(ctx context.Context, db DB, ref Ref, repos []knownRepository) error {
	var registries []string
	for _, r := range repos {
		if !slices.Contains(registries, r.registry) {
			registries = append(registries, r.registry)
		}
	}
	host, rest, hasHost := strings.Cut(ref.Repository, "/")
	switch {
	case hasHost && slices.Contains(registries, host):
		near := nearRepositories(rest, host, repos)
		if len(near) == 0 {
			return refErrorf(ErrNotFound, "%s: registry %s has no repository %s; check the name (layerq storage lists the repositories)", ref, host, rest)
		}
		return refErrorf(ErrNotFound, "%s: registry %s has no repository %s; did you mean %s?", ref, host, rest, listed(fullNames(near), maxListed, "or"))
	case hasHost && looksLikeHost(host):
		return unknownRegistry(ctx, db, ref, host, rest, registries, repos)
	}
	near := nearRepositories(ref.Repository, "", repos)
	if len(near) == 0 {
		return refErrorf(ErrNotFound, "%s: no repository %s in the graph; check the name (layerq storage lists the repositories), or scan its registry", ref, ref.Repository)
	}
	return refErrorf(ErrNotFound, "%s: no repository %s in the graph; did you mean %s?", ref, ref.Repository, listed(shortestNames(near, repos), maxListed, "or"))
}

// unknownRegistry explains a reference that starts with a registry host the
// graph does not know, and points at the same repository in the registries
// it does know.
func unknownRegistry(ctx context.Context, db DB, ref Ref, host, rest string, registries []string, repos []knownRepository) error {
	aliasOf, err := queries.RefAlias(ctx, db, host)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("%s: the graph has no registry %s", ref, host)
	if len(aliasOf) > 0 {
		msg += fmt.Sprintf(" (events of %s call it that)", listed(aliasOf, maxListed, "and"))
	}
	msg += "; its registries are " + listed(registries, maxListed, "and")
	suffix := ":" + ref.Tag
	if ref.Digest != "" {
		suffix = "@" + ref.Digest
	}
	var same []string
	for _, r := range repos {
		if r.live && r.name == rest {
			same = append(same, r.full()+suffix)
		}
	}
	if len(same) == 0 {
		return refErrorf(ErrNotFound, "%s; give the registry as the graph names it", msg)
	}
	return refErrorf(ErrNotFound, "%s; did you mean %s?", msg, listed(same, maxListed, "or"))
}

// looksLikeHost says whether the first part of a reference is a registry
// host rather than a namespace, as docker decides it.
func looksLikeHost(s string) bool {
	return strings.ContainsAny(s, ".:") || s == "localhost"
}

// nearRepositories are the live repositories near name, nearest first: those in
// any registry with the same last path segment, or a few edits away (in
// registry, when given, before the others).
func nearRepositories(name, registry string, repos []knownRepository) []knownRepository {
	type near struct {
		knownRepository
		edits int
	}
	var ns []near
	for _, r := range repos {
		if !r.live {
			continue
		}
		d := smetrics.WagnerFischer(name, r.name, 1, 1, 1)
		if registry == "" {
			d = min(d, smetrics.WagnerFischer(name, r.full(), 1, 1, 1))
		}
		if d <= maxRepositoryEdits(name) || path.Base(r.name) == path.Base(name) {
			ns = append(ns, near{r, d})
		}
	}
	slices.SortStableFunc(ns, func(a, b near) int {
		return cmp.Or(cmp.Compare(a.edits, b.edits), cmp.Compare(boolInt(a.registry != registry), boolInt(b.registry != registry)))
	})
	var out []knownRepository
	for _, n := range ns {
		out = append(out, n.knownRepository)
	}
	return out
}

// maxRepositoryEdits is how many edits a mistyped repository name may be away from
// the real one: one in a name of up to four letters, one more per five.
func maxRepositoryEdits(name string) int { return 1 + len(name)/5 }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func fullNames(repos []knownRepository) []string {
	var out []string
	for _, r := range repos {
		out = append(out, r.full())
	}
	return out
}

// shortestNames names repos as a reference may: the name alone when no other
// registry has a repository of that name.
func shortestNames(near, repos []knownRepository) []string {
	var out []string
	for _, n := range near {
		s := n.name
		for _, r := range repos {
			if r.name == n.name && r.registry != n.registry {
				s = n.full()
				break
			}
		}
		out = append(out, s)
	}
	return out
}
