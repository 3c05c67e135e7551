package graph

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/layerq/layerq/internal/dbsqlc"
	sqlfiles "github.com/layerq/layerq/sql"
)

var (
	qRecordFailure      = sqlfiles.Query("record_failure")
	qTagDigest          = sqlfiles.Query("tag_digest")
	qClearFailure       = sqlfiles.Query("clear_failure")
	qDeleteTags         = sqlfiles.Query("delete_tags")
	qDeleteManifest     = sqlfiles.Query("delete_manifest")
	qRepositoryState    = sqlfiles.Query("repository_state")
	qScanBegin          = sqlfiles.Query("scan_begin")
	qScanDone           = sqlfiles.Query("scan_done_repositories")
	qScanRepositoryDone = sqlfiles.Query("scan_repository_done")
	qScanFinish         = sqlfiles.Query("scan_finish")
	qLiveRepositories   = sqlfiles.Query("live_repositories")
	qDeleteRepository   = sqlfiles.Query("delete_repository")
	qManifestChildren   = sqlfiles.Query("manifest_children")
	qDeleteMembership   = sqlfiles.Query("delete_membership")
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
	var payload *string
	if len(f.Payload) > 0 {
		p := string(f.Payload)
		payload = &p
	}
	_, err := s.pool.Exec(ctx, qRecordFailure, f.Registry, f.Repository, f.Reference, f.Source, f.Class, f.Reason, payload)
	return err
}

// ClearFailures forgets earlier failures of references now ingested.
func (s *Store) ClearFailures(ctx context.Context, registry, repository string, refs []string) error {
	_, err := s.pool.Exec(ctx, qClearFailure, registry, repository, refs)
	return err
}

// DeleteTags marks tags of a repository deleted at the given time and records
// each as a tag event. It returns how many live tags it marked.
func (s *Store) DeleteTags(ctx context.Context, registry, repository string, tags []string, at time.Time, source, eventID string) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, qDeleteTags, registry, repository, tags, at, source, nullString(eventID))
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// DeleteManifest marks a manifest deleted from one repository, along with
// every tag that pointed at it. It returns how many memberships and tags it
// marked.
func (s *Store) DeleteManifest(ctx context.Context, registry, repository, digest string, at time.Time, source, eventID string) (manifests, tags int64, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, qDeleteManifest, registry, repository, digest, at, source, nullString(eventID)).Scan(&manifests, &tags)
	})
	return manifests, tags, err
}

// LiveRepositories lists the repositories of a registry that hold anything live.
func (s *Store) LiveRepositories(ctx context.Context, registry string) ([]string, error) {
	rows, err := s.pool.Query(ctx, qLiveRepositories, registry)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// DeleteRepository marks everything live in a repository deleted at the
// given time, with a tag event per tag. It returns how many memberships and
// tags it marked.
func (s *Store) DeleteRepository(ctx context.Context, registry, repository string, at time.Time, source string) (manifests, tags int64, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, qDeleteRepository, registry, repository, at, source).Scan(&manifests, &tags)
	})
	return manifests, tags, err
}

// DeleteMembership marks a manifest deleted from one repository at the given
// time, leaving tags alone. It reports whether it marked anything.
func (s *Store) DeleteMembership(ctx context.Context, registry, repository, digest string, at time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, qDeleteMembership, registry, repository, digest, at)
	return tag.RowsAffected() > 0, err
}

// TagDigest returns the manifest a tag names, or last named before it was
// deleted; ErrNotFound when the graph never saw the tag.
func (s *Store) TagDigest(ctx context.Context, registry, repository, tag string) (string, error) {
	var d string
	err := s.pool.QueryRow(ctx, qTagDigest, registry, repository, tag).Scan(&d)
	return d, dbsqlc.Interpret(err)
}

// Children returns every manifest below the given ones through index
// entries, at any depth.
func (s *Store) Children(ctx context.Context, digests []string) ([]string, error) {
	rows, err := s.pool.Query(ctx, qManifestChildren, digests)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// RepositoryState is what the graph holds for one repository.
type RepositoryState struct {
	Tags      map[string]string // live tag -> digest
	Manifests map[string]bool   // live manifest digests
}

// Repository returns the live tags and manifests of one repository.
func (s *Store) Repository(ctx context.Context, registry, repository string) (RepositoryState, error) {
	st := RepositoryState{Tags: map[string]string{}, Manifests: map[string]bool{}}
	rows, err := s.pool.Query(ctx, qRepositoryState, registry, repository)
	if err != nil {
		return st, err
	}
	var tag *string
	var digest string
	_, err = pgx.ForEachRow(rows, []any{&tag, &digest}, func() error {
		if tag != nil {
			st.Tags[*tag] = digest
		} else {
			st.Manifests[digest] = true
		}
		return nil
	})
	return st, err
}

// BeginScan resumes the newest unfinished scan of registry and glob, or
// starts a new one. It returns the scan id, whether it resumed, and the
// repositories an earlier run of it already finished.
func (s *Store) BeginScan(ctx context.Context, registry, glob string) (id int64, resumed bool, done map[string]bool, err error) {
	if err = s.pool.QueryRow(ctx, qScanBegin, registry, glob).Scan(&id, &resumed); err != nil {
		return 0, false, nil, err
	}
	done = map[string]bool{}
	rows, err := s.pool.Query(ctx, qScanDone, id)
	if err != nil {
		return 0, false, nil, err
	}
	var repo string
	_, err = pgx.ForEachRow(rows, []any{&repo}, func() error {
		done[repo] = true
		return nil
	})
	return id, resumed, done, err
}

// ScanRepositoryDone records that a scan finished one repository.
func (s *Store) ScanRepositoryDone(ctx context.Context, scanID int64, repository string) error {
	_, err := s.pool.Exec(ctx, qScanRepositoryDone, scanID, repository)
	return err
}

// FinishScan marks a scan complete; the next scan starts afresh.
func (s *Store) FinishScan(ctx context.Context, scanID int64) error {
	_, err := s.pool.Exec(ctx, qScanFinish, scanID)
	return err
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
