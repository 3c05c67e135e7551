package graph

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/layerq/layerq/internal/dbsqlc"
)

// Failure is a reference that could not be ingested, and why.
type Failure struct {
	Registry   string
	Repository string
	Reference  string // tag or digest
	Source     string // "scan" or the webhook source
	// Class groups reasons for reports and metrics: "unsupported",
	// "invalid", "not_found", "unauthorized", "too_large", "registry".
	Class   string
	Reason  string
	Payload json.RawMessage // the event that caused it, if any
}

// RecordFailure stores f; the same reference failing again bumps its attempts.
func (s *Store) RecordFailure(ctx context.Context, f Failure) error {
	var payload []byte // NULL unless there is one
	if len(f.Payload) > 0 {
		payload = f.Payload
	}
	return queries.RecordFailure(ctx, s.pool, dbsqlc.RecordFailureParams{
		Registry:   f.Registry,
		Repository: f.Repository,
		Reference:  f.Reference,
		Source:     f.Source,
		Class:      f.Class,
		Reason:     f.Reason,
		Payload:    payload,
	})
}

// ClearFailures forgets earlier failures of references now ingested.
func (s *Store) ClearFailures(ctx context.Context, registry, repository string, refs []string) error {
	return queries.ClearFailure(ctx, s.pool, dbsqlc.ClearFailureParams{Registry: registry, Repository: repository, Refs: refs})
}

// DeleteTags marks tags of a repository deleted at the given time and records
// each as a tag event. It returns how many live tags it marked.
func (s *Store) DeleteTags(ctx context.Context, registry, repository string, tags []string, at time.Time, source, eventID string) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		n, err = queries.DeleteTags(ctx, tx, dbsqlc.DeleteTagsParams{
			Registry:   registry,
			Repository: repository,
			Tags:       tags,
			At:         at,
			Source:     source,
			EventID:    nullString(eventID),
		})
		return err
	})
	return n, err
}

// DeleteManifest marks a manifest deleted from one repository, along with
// every tag that pointed at it. It returns how many memberships and tags it
// marked.
func (s *Store) DeleteManifest(ctx context.Context, registry, repository, digest string, at time.Time, source, eventID string) (manifests, tags int64, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := queries.DeleteManifest(ctx, tx, dbsqlc.DeleteManifestParams{
			Registry:   registry,
			Repository: repository,
			Digest:     digest,
			At:         at,
			Source:     source,
			EventID:    nullString(eventID),
		})
		manifests, tags = r.Manifests, r.Tags
		return err
	})
	return manifests, tags, dbsqlc.Interpret(err)
}

// LiveRepositories lists the repositories of a registry that hold anything live.
func (s *Store) LiveRepositories(ctx context.Context, registry string) ([]string, error) {
	names, err := queries.LiveRepositories(ctx, s.pool, registry)
	return orEmpty(names), err
}

// DeleteRepository marks everything live in a repository deleted at the
// given time, with a tag event per tag. It returns how many memberships and
// tags it marked.
func (s *Store) DeleteRepository(ctx context.Context, registry, repository string, at time.Time, source string) (manifests, tags int64, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := queries.DeleteRepository(ctx, tx, dbsqlc.DeleteRepositoryParams{
			Registry:   registry,
			Repository: repository,
			At:         at,
			Source:     source,
		})
		manifests, tags = r.Manifests, r.Tags
		return err
	})
	return manifests, tags, dbsqlc.Interpret(err)
}

// DeleteMembership marks a manifest deleted from one repository at the given
// time, leaving tags alone. It reports whether it marked anything.
func (s *Store) DeleteMembership(ctx context.Context, registry, repository, digest string, at time.Time) (bool, error) {
	n, err := queries.DeleteMembership(ctx, s.pool, dbsqlc.DeleteMembershipParams{
		Registry:   registry,
		Repository: repository,
		Digest:     digest,
		At:         at,
	})
	return n > 0, err
}

// TagDigest returns the manifest a tag names, or last named before it was
// deleted; ErrNotFound when the graph never saw the tag.
func (s *Store) TagDigest(ctx context.Context, registry, repository, tag string) (string, error) {
	d, err := queries.TagDigest(ctx, s.pool, dbsqlc.TagDigestParams{Registry: registry, Repository: repository, Tag: tag})
	return d, dbsqlc.Interpret(err)
}

// Children returns every manifest below the given ones through index
// entries, at any depth.
func (s *Store) Children(ctx context.Context, digests []string) ([]string, error) {
	children, err := queries.ManifestChildren(ctx, s.pool, digests)
	return orEmpty(children), err
}

// RepositoryState is what the graph holds for one repository.
type RepositoryState struct {
	Tags      map[string]string // live tag -> digest
	Manifests map[string]bool   // live manifest digests
}

// Repository returns the live tags and manifests of one repository.
func (s *Store) Repository(ctx context.Context, registry, repository string) (RepositoryState, error) {
	st := RepositoryState{Tags: map[string]string{}, Manifests: map[string]bool{}}
	rows, err := queries.RepositoryState(ctx, s.pool, dbsqlc.RepositoryStateParams{Registry: registry, Repository: repository})
	if err != nil {
		return st, err
	}
	for _, r := range rows {
		if r.Tag != nil {
			st.Tags[*r.Tag] = r.Digest
		} else {
			st.Manifests[r.Digest] = true
		}
	}
	return st, nil
}

// BeginScan resumes the newest unfinished scan of registry and glob, or
// starts a new one. It returns the scan id, whether it resumed, and the
// repositories an earlier run of it already finished.
func (s *Store) BeginScan(ctx context.Context, registry, glob string) (id int64, resumed bool, done map[string]bool, err error) {
	scan, err := queries.ScanBegin(ctx, s.pool, dbsqlc.ScanBeginParams{Registry: registry, RepoGlob: glob})
	if err != nil {
		return 0, false, nil, dbsqlc.Interpret(err)
	}
	repos, err := queries.ScanDoneRepositories(ctx, s.pool, scan.ID)
	if err != nil {
		return 0, false, nil, err
	}
	done = make(map[string]bool, len(repos))
	for _, repo := range repos {
		done[repo] = true
	}
	return scan.ID, scan.Resumed, done, nil
}

// ScanRepositoryDone records that a scan finished one repository.
func (s *Store) ScanRepositoryDone(ctx context.Context, scanID int64, repository string) error {
	return queries.ScanRepositoryDone(ctx, s.pool, dbsqlc.ScanRepositoryDoneParams{ScanID: scanID, Repository: repository})
}

// FinishScan marks a scan complete; the next scan starts afresh.
func (s *Store) FinishScan(ctx context.Context, scanID int64) error {
	return queries.ScanFinish(ctx, s.pool, scanID)
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
