// Package scan crawls a whole registry into the graph: the catalog, every
// repository's tags, every manifest they name. It skips what the graph already
// has, marks tags the registry no longer lists as deleted, records manifests
// that fail with their reason and carries on, and resumes an interrupted scan
// where it stopped.
package scan

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/walker"
)

// Options configure a scan.
type Options struct {
	// Registry is the registry host to crawl, e.g. "registry.example.com:5000".
	Registry string
	// Name is what the graph calls the registry; default Registry.
	Name string
	// Repositories selects repositories by glob (see package repoglob).
	Repositories repoglob.Glob
	// Jobs is how many manifests are fetched at once (default 16).
	Jobs int
	// BatchSize is how many walked references are written per transaction (default 256).
	BatchSize int
	// Progress hears about the scan as it goes; nil means silence.
	Progress Progress
}

// Progress hears about a running scan. Calls come from one goroutine at a time.
type Progress interface {
	// Start is called once the catalog is listed, with the repositories to scan.
	Start(repositories int, resumed bool)
	// Repository is called when a repository is finished and written.
	Repository(r RepositoryResult)
	// Failure is called for each reference that could not be ingested.
	Failure(f graph.Failure)
}

// RepositoryResult is what the scan did to one repository.
type RepositoryResult struct {
	Name        string
	Tags        int // tags the registry lists
	Walked      int // references fetched and written
	Unchanged   int // tags the graph already had at the same digest
	DeletedTags int // tags the graph had that the registry no longer lists
	Errors      int
}

// Summary is the outcome of a scan.
type Summary struct {
	Registry     string
	Resumed      bool
	Repositories int // scanned by this run
	Skipped      int // finished by an earlier, interrupted run of the same scan
	Tags         int
	Manifests    int // distinct manifests written (children of indexes included)
	Layers       int // distinct layer blobs referenced by them
	Unchanged    int
	DeletedTags  int
	Errors       int
	Duration     time.Duration
}

// String is the one-line summary printed at the end of a scan.
func (s Summary) String() string {
	resumed := ""
	if s.Resumed {
		resumed = fmt.Sprintf(" (resumed; %d repositories done earlier)", s.Skipped)
	}
	return fmt.Sprintf("scanned %s%s: %d repositories, %d tags, %d manifests, %d layers, %d unchanged, %d tags deleted, %d errors in %s",
		s.Registry, resumed, s.Repositories, s.Tags, s.Manifests, s.Layers, s.Unchanged, s.DeletedTags, s.Errors, s.Duration.Round(time.Millisecond))
}

// Run scans one registry into store.
func Run(ctx context.Context, store *graph.Store, w *walker.Walker, opts Options) (Summary, error) {
	start := time.Now()
	if opts.Jobs <= 0 {
		opts.Jobs = 16
	}
	if opts.Name == "" {
		opts.Name = opts.Registry
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 256
	}
	if opts.Progress == nil {
		opts.Progress = nopProgress{}
	}
	opts.Progress = &lockedProgress{p: opts.Progress}
	sum := Summary{Registry: opts.Name}
	reg, err := w.Registry(opts.Registry)
	if err != nil {
		return sum, err
	}
	catalog, err := w.Puller().Catalog(ctx, reg)
	if err != nil {
		return sum, fmt.Errorf("listing the catalog of %s: %w", opts.Registry, walkerError("listing the catalog", err))
	}
	scanID, resumed, done, err := store.BeginScan(ctx, opts.Name, opts.Repositories.String())
	if err != nil {
		return sum, fmt.Errorf("starting the scan: %w", err)
	}
	sum.Resumed = resumed
	var todo []string
	for _, r := range catalog {
		if !opts.Repositories.Match(r) {
			continue
		}
		if done[r] {
			sum.Skipped++
			continue
		}
		todo = append(todo, r)
	}
	sort.Strings(todo)
	opts.Progress.Start(len(todo), resumed)

	s := &scanner{store: store, w: w, opts: opts, scanID: scanID, sum: &sum,
		manifests: map[string]bool{}, layers: map[string]bool{}}
	if err := s.run(ctx, todo); err != nil {
		return sum, err
	}
	if err := store.FinishScan(ctx, scanID); err != nil {
		return sum, fmt.Errorf("finishing the scan: %w", err)
	}
	sum.Duration = time.Since(start)
	return sum, nil
}

func walkerError(doing string, err error) error {
	var we *walker.Error
	if errors.As(err, &we) {
		return err
	}
	return walker.Classify(doing, err)
}

// lockedProgress serialises calls from the listers and the writer.
type lockedProgress struct {
	mu sync.Mutex
	p  Progress
}

func (l *lockedProgress) Start(n int, resumed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.p.Start(n, resumed)
}

func (l *lockedProgress) Repository(r RepositoryResult) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.p.Repository(r)
}

func (l *lockedProgress) Failure(f graph.Failure) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.p.Failure(f)
}

type nopProgress struct{}

func (nopProgress) Start(int, bool)             {}
func (nopProgress) Repository(RepositoryResult) {}
func (nopProgress) Failure(graph.Failure)       {}

// scanner is one scan's pipeline: repository listers feed references to
// walkers, whose observations one writer batches into the graph.
type scanner struct {
	store  *graph.Store
	w      *walker.Walker
	opts   Options
	scanID int64
	sum    *Summary

	// Written by the writer goroutine only.
	manifests map[string]bool
	layers    map[string]bool
}

// job is one reference to walk.
type job struct {
	repo *repoTracker
	ref  string
}

// result is a walked job.
type result struct {
	job
	obs graph.Observation
	err error
}

// repoTracker counts a repository's outstanding references, so the writer
// knows when all of it is written.
type repoTracker struct {
	res     RepositoryResult
	pending int // references not yet written; guarded by the writer
	listed  bool
	refs    []string // ingested refs, to clear old failures
}

func (s *scanner) run(ctx context.Context, repos []string) error {
	g, ctx := errgroup.WithContext(ctx)
	jobs := make(chan job, s.opts.Jobs*4)
	results := make(chan result, s.opts.Jobs*4)
	listed := make(chan *repoTracker, 16)

	// Listers: a few repositories at a time.
	g.Go(func() error {
		defer close(jobs)
		defer close(listed)
		lg, lctx := errgroup.WithContext(ctx)
		lg.SetLimit(4)
		for _, r := range repos {
			lg.Go(func() error { return s.list(lctx, r, jobs, listed) })
		}
		return lg.Wait()
	})
	// Walkers.
	var wg sync.WaitGroup
	for range s.opts.Jobs {
		wg.Add(1)
		g.Go(func() error {
			defer wg.Done()
			for j := range jobs {
				obs, err := s.w.Walk(ctx, s.opts.Registry, j.repo.res.Name, j.ref)
				obs.Registry = s.opts.Name
				select {
				case results <- result{job: j, obs: obs, err: err}:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
	}
	go func() { wg.Wait(); close(results) }()
	// Writer.
	g.Go(func() error { return s.write(ctx, results, listed) })
	return g.Wait()
}

// list lists one repository's tags, reconciles deleted tags, and queues the
// tags whose digest is new to the graph.
func (s *scanner) list(ctx context.Context, repoName string, jobs chan<- job, listed chan<- *repoTracker) error {
	t := &repoTracker{res: RepositoryResult{Name: repoName}}
	repo, err := s.w.Repository(s.opts.Registry, repoName)
	if err != nil {
		return err
	}
	state, err := s.store.Repository(ctx, s.opts.Name, repoName)
	if err != nil {
		return fmt.Errorf("reading %s from the graph: %w", repoName, err)
	}
	tags, err := s.w.Puller().List(ctx, repo)
	if err != nil {
		werr := walkerError("listing tags of "+repoName, err)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t.res.Errors++
		t.listed = true
		select {
		case listed <- t:
		case <-ctx.Done():
			return ctx.Err()
		}
		return s.fail(ctx, repoName, "", werr)
	}
	sort.Strings(tags)
	t.res.Tags = len(tags)
	var queue []string
	listedSet := make(map[string]bool, len(tags))
	for _, tag := range tags {
		listedSet[tag] = true
		if have, ok := state.Tags[tag]; ok && len(state.Tags) > 0 {
			// Known tag: a HEAD tells whether it moved.
			d, err := s.w.Puller().Head(ctx, repo.Tag(tag))
			if err == nil && d.Digest.String() == have {
				t.res.Unchanged++
				continue
			}
		}
		queue = append(queue, tag)
	}
	var gone []string
	for tag := range state.Tags {
		if !listedSet[tag] {
			gone = append(gone, tag)
		}
	}
	if len(gone) > 0 {
		sort.Strings(gone)
		n, err := s.store.DeleteTags(ctx, s.opts.Name, repoName, gone, time.Now(), "scan", "")
		if err != nil {
			return fmt.Errorf("marking deleted tags of %s: %w", repoName, err)
		}
		t.res.DeletedTags = int(n)
	}
	t.pending = len(queue)
	t.listed = true
	// Hand the tracker to the writer before its jobs, so it can count them.
	select {
	case listed <- t:
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, tag := range queue {
		select {
		case jobs <- job{repo: t, ref: tag}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// write batches walked observations into the graph and finishes repositories
// whose references are all written.
func (s *scanner) write(ctx context.Context, results <-chan result, listed <-chan *repoTracker) error {
	var batch []result
	open := map[*repoTracker]bool{}
	finish := func(t *repoTracker) error {
		t0 := time.Now()
		defer func() { DbgFinish += time.Since(t0) }()
		delete(open, t)
		if len(t.refs) > 0 {
			if err := s.store.ClearFailures(ctx, s.opts.Name, t.res.Name, t.refs); err != nil {
				return fmt.Errorf("clearing old failures of %s: %w", t.res.Name, err)
			}
		}
		if err := s.store.ScanRepositoryDone(ctx, s.scanID, t.res.Name); err != nil {
			return fmt.Errorf("recording progress: %w", err)
		}
		s.sum.Repositories++
		s.sum.Tags += t.res.Tags
		s.sum.Unchanged += t.res.Unchanged
		s.sum.DeletedTags += t.res.DeletedTags
		s.sum.Errors += t.res.Errors
		s.opts.Progress.Repository(t.res)
		return nil
	}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		obs := make([]graph.Observation, 0, len(batch))
		for _, r := range batch {
			obs = append(obs, r.obs)
		}
		t0 := time.Now()
		err := s.store.Ingest(ctx, obs)
		DbgIngest += time.Since(t0)
		DbgBatches++
		DbgRows += len(obs)
		if err != nil {
			return fmt.Errorf("writing %d observations: %w", len(obs), err)
		}
		for _, r := range batch {
			for _, m := range r.obs.Manifests {
				if !s.manifests[m.Digest] {
					s.manifests[m.Digest] = true
					s.sum.Manifests++
				}
				for _, l := range m.Layers {
					if !s.layers[l.Digest] {
						s.layers[l.Digest] = true
						s.sum.Layers++
					}
				}
			}
			r.repo.res.Walked++
			r.repo.refs = append(r.repo.refs, r.ref)
			r.repo.pending--
		}
		batch = batch[:0]
		for t := range open {
			if t.pending == 0 {
				if err := finish(t); err != nil {
					return err
				}
			}
		}
		return nil
	}
	ticker := time.NewTicker(250 * time.Millisecond)
	defer ticker.Stop()
	for results != nil || listed != nil {
		select {
		case t, ok := <-listed:
			if !ok {
				listed = nil
				continue
			}
			open[t] = true
			if t.pending == 0 {
				if err := finish(t); err != nil {
					return err
				}
			}
		case r, ok := <-results:
			if !ok {
				results = nil
				continue
			}
			if r.err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				r.repo.res.Errors++
				r.repo.pending--
				if err := s.fail(ctx, r.repo.res.Name, r.ref, r.err); err != nil {
					return err
				}
				if r.repo.pending == 0 && open[r.repo] {
					if err := flush(); err != nil {
						return err
					}
					if open[r.repo] {
						if err := finish(r.repo); err != nil {
							return err
						}
					}
				}
				continue
			}
			batch = append(batch, r)
			if len(batch) >= s.opts.BatchSize {
				if err := flush(); err != nil {
					return err
				}
			}
		case <-ticker.C:
			if err := flush(); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := flush(); err != nil {
		return err
	}
	for t := range open {
		if err := finish(t); err != nil {
			return err
		}
	}
	return nil
}

// fail records a reference that could not be walked; only errors that are
// not the walker's (the database, a cancelled scan) stop the scan.
func (s *scanner) fail(ctx context.Context, repo, ref string, err error) error {
	var we *walker.Error
	if !errors.As(err, &we) {
		return err
	}
	f := graph.Failure{Registry: s.opts.Name, Repository: repo, Reference: ref, Source: "scan", Class: string(we.Class), Reason: we.Reason}
	if err := s.store.RecordFailure(ctx, f); err != nil {
		return fmt.Errorf("recording a failure of %s:%s: %w", repo, ref, err)
	}
	s.opts.Progress.Failure(f)
	return nil
}

var DbgIngest, DbgFinish time.Duration
var DbgBatches, DbgRows int
