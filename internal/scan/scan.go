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

	"github.com/google/go-containerregistry/pkg/name"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/image"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/telemetry"
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
	// Telemetry receives a span for the scan and its progress as metrics.
	Telemetry telemetry.Providers
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
	// GoneManifests were live untagged in the graph and are gone from the registry.
	GoneManifests int
	Errors        int
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
	// Walked are the references fetched and written: new to the graph,
	// or moved since it last saw them.
	Walked      int
	DeletedTags int
	// GoneRepositories held live manifests in the graph but are no longer
	// in the catalog: everything in them is marked deleted.
	GoneRepositories int
	// GoneManifests were live in the graph, no tag names them any more, and
	// the registry answers 404 for them: marked deleted.
	GoneManifests int
	Errors        int
	Duration      time.Duration
}

// String is the one-line summary printed at the end of a scan.
func (s Summary) String() string {
	resumed := ""
	if s.Resumed {
		resumed = fmt.Sprintf(" (resumed; %s done earlier)", count(s.Skipped, "repository", "repositories"))
	}
	gone := ""
	if s.GoneRepositories > 0 || s.GoneManifests > 0 {
		gone = fmt.Sprintf(", %s and %s gone", count(s.GoneRepositories, "repository", "repositories"), count(s.GoneManifests, "manifest", "manifests"))
	}
	return fmt.Sprintf("scanned %s%s: %s, %s, %s, %s, %d unchanged, %s deleted%s, %s in %s",
		s.Registry, resumed, count(s.Repositories, "repository", "repositories"), count(s.Tags, "tag", "tags"),
		count(s.Manifests, "manifest", "manifests"), count(s.Layers, "layer", "layers"), s.Unchanged,
		count(s.DeletedTags, "tag", "tags"), gone, count(s.Errors, "error", "errors"), s.Duration.Round(time.Millisecond))
}

func count(n int, one, many string) string { return output.Count(int64(n), one, many) }

// Run scans one registry into store.
func Run(ctx context.Context, store *graph.Store, w *walker.Walker, opts Options) (_ Summary, err error) {
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
	ctx, span := opts.Telemetry.TracerFor().Start(ctx, "scan registry", trace.WithAttributes(
		attribute.String("layerq.registry", opts.Name), attribute.String("layerq.repositories", opts.Repositories.String())))
	defer func() { telemetry.End(span, err) }()
	opts.Progress = &lockedProgress{p: newMeteredProgress(ctx, opts.Telemetry, opts.Name, opts.Progress)}
	sum := Summary{Registry: opts.Name}
	reg, err := w.Registry(opts.Registry)
	if err != nil {
		return sum, err
	}
	catalog, err := w.Puller().Catalog(ctx, reg)
	if err != nil {
		return sum, walkerError("listing the catalog of "+opts.Registry, err)
	}
	if sum.GoneRepositories, err = reconcileCatalog(ctx, store, opts, catalog); err != nil {
		return sum, err
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

// reconcileCatalog marks deleted the repositories the graph holds live for
// this registry, within the glob, that the complete catalog no longer lists.
func reconcileCatalog(ctx context.Context, store *graph.Store, opts Options, catalog []string) (int, error) {
	listed := make(map[string]bool, len(catalog))
	for _, r := range catalog {
		listed[r] = true
	}
	live, err := store.LiveRepositories(ctx, opts.Name)
	if err != nil {
		return 0, fmt.Errorf("reading repositories from the graph: %w", err)
	}
	gone := 0
	now := time.Now()
	for _, r := range live {
		if listed[r] || !opts.Repositories.Match(r) {
			continue
		}
		if _, _, err := store.DeleteRepository(ctx, opts.Name, r, now, "scan"); err != nil {
			return gone, fmt.Errorf("marking %s deleted: %w", r, err)
		}
		gone++
	}
	return gone, nil
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

	// Written by the collecting goroutine only.
	manifests map[string]bool
	layers    map[string]bool
	// Repository counts, written by the finisher goroutine only.
	done Summary
}

// job is one reference to walk.
type job struct {
	repo *repoTracker
	ref  string
}

// result is a walked job.
type result struct {
	job
	obs image.Observation
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
	// Room for two batches, so walkers keep going while both writers are busy.
	results := make(chan result, max(s.opts.Jobs*4, s.opts.BatchSize*2))
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
	// Writers.
	g.Go(func() error { return s.write(ctx, results, listed) })
	err := g.Wait()
	s.sum.Repositories += s.done.Repositories
	s.sum.Tags += s.done.Tags
	s.sum.Unchanged += s.done.Unchanged
	s.sum.Walked += s.done.Walked
	s.sum.DeletedTags += s.done.DeletedTags
	s.sum.GoneManifests += s.done.GoneManifests
	s.sum.Errors += s.done.Errors
	return err
}

// list lists one repository's tags, reconciles what the registry no longer
// has, and queues the tags whose digest is new to the graph.
func (s *scanner) list(ctx context.Context, repoName string, jobs chan<- job, listed chan<- *repoTracker) error {
	t := &repoTracker{res: RepositoryResult{Name: repoName}}
	// Failures of the repository as a whole are recorded first, then the
	// repository is handed over with nothing to wait for.
	giveUp := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t.res.Errors++
		if err := s.fail(ctx, repoName, "", err); err != nil {
			return err
		}
		t.listed = true
		select {
		case listed <- t:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	repo, err := s.w.Repository(s.opts.Registry, repoName)
	if err != nil {
		return giveUp(err)
	}
	state, err := s.store.Repository(ctx, s.opts.Name, repoName)
	if err != nil {
		return fmt.Errorf("reading %s from the graph: %w", repoName, err)
	}
	tags, err := s.w.Puller().List(ctx, repo)
	if err != nil {
		return giveUp(walkerError("listing tags of "+repoName, err))
	}
	sort.Strings(tags)
	t.res.Tags = len(tags)
	t.refs = append(t.refs, "") // the repository listed: clear its old listing failure
	var queue []string
	var reachable []string // digests live tags still name
	listedSet := make(map[string]bool, len(tags))
	for _, tag := range tags {
		listedSet[tag] = true
		if have, ok := state.Tags[tag]; ok {
			// Known tag: a HEAD tells whether it moved.
			d, err := s.w.Puller().Head(ctx, repo.Tag(tag))
			if err == nil && d.Digest.String() == have {
				t.res.Unchanged++
				t.refs = append(t.refs, tag)
				reachable = append(reachable, have)
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
	now := time.Now()
	if len(gone) > 0 {
		sort.Strings(gone)
		n, err := s.store.DeleteTags(ctx, s.opts.Name, repoName, gone, now, "scan", "")
		if err != nil {
			return fmt.Errorf("marking deleted tags of %s: %w", repoName, err)
		}
		t.res.DeletedTags = int(n)
		t.refs = append(t.refs, gone...)
	}
	if err := s.reconcileUntagged(ctx, t, repo, state, reachable, now); err != nil {
		return err
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

// reconcileUntagged asks the registry, with a HEAD each, about the manifests
// the graph holds live in a repository that no unchanged tag reaches (pushed
// by digest, or left behind by a tag that moved), and marks deleted those it
// answers 404 for: deletes whose webhook was lost.
func (s *scanner) reconcileUntagged(ctx context.Context, t *repoTracker, repo name.Repository, state graph.RepositoryState, reachable []string, now time.Time) error {
	if len(state.Manifests) == 0 {
		return nil
	}
	below, err := s.store.Children(ctx, reachable)
	if err != nil {
		return fmt.Errorf("reading index entries of %s: %w", t.res.Name, err)
	}
	keep := make(map[string]bool, len(reachable)+len(below))
	for _, d := range append(reachable, below...) {
		keep[d] = true
	}
	var candidates []string
	for d := range state.Manifests {
		if !keep[d] {
			candidates = append(candidates, d)
		}
	}
	sort.Strings(candidates)
	for _, d := range candidates {
		_, err := s.w.Puller().Head(ctx, repo.Digest(d))
		if err == nil {
			continue
		}
		var we *walker.Error
		if werr := walkerError("checking "+t.res.Name+"@"+d, err); errors.As(werr, &we) && we.Class == walker.NotFound {
			marked, err := s.store.DeleteMembership(ctx, s.opts.Name, t.res.Name, d, now)
			if err != nil {
				return fmt.Errorf("marking %s@%s deleted: %w", t.res.Name, d, err)
			}
			if marked {
				t.res.GoneManifests++
			}
		}
	}
	return nil
}

// writers is how many batches are written at once, each by graph.Ingest on
// its own connection: while one commits, the next is sent. (Three measured
// the same on two cores, within noise, and would hold three of the four
// connections pgxpool opens by default there, which the repository listers
// and the finisher also use.)
const writers = 2

// flushed is a batch a writer has written (or failed to).
type flushed struct {
	batch  []result
	failed map[int]error // observations the database refused, by index in batch
	err    error
}

// write batches walked observations and hands each batch to one of the
// writers; repositories whose references are all committed go to the
// finisher, which records them as done.
func (s *scanner) write(parent context.Context, results <-chan result, listed <-chan *repoTracker) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()

	todo := make(chan []result)
	done := make(chan flushed, writers) // never blocks: at most writers batches in flight
	finished := make(chan *repoTracker, 64)
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range todo {
				obs := make([]image.Observation, len(batch))
				for i, r := range batch {
					obs[i] = r.obs
				}
				f := flushed{batch: batch, err: s.store.Ingest(ctx, obs)}
				if graph.IsDataError(f.err) {
					// One observation the database refuses must not sink the
					// batch, nor every later scan: write them one by one.
					f.failed, f.err = s.ingestEach(ctx, obs)
				}
				if f.err != nil {
					f.err = fmt.Errorf("writing %d observations: %w", len(obs), f.err)
				}
				done <- f
			}
		}()
	}
	// The finisher works under the parent context: a repository whose
	// observations are committed is recorded done even when writing others
	// failed.
	finisherErr := make(chan error, 1)
	go func() {
		var err error
		for t := range finished {
			if err == nil {
				if err = s.finish(parent, t); err != nil {
					cancel()
				}
			}
		}
		finisherErr <- err
	}()

	err := s.collect(ctx, results, listed, todo, done, finished)
	close(todo)
	close(finished)
	if err != nil {
		cancel()
	}
	wg.Wait()
	// A failing finisher cancels the collector; its error is the cause.
	if ferr := <-finisherErr; ferr != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = ferr
	}
	return err
}

// ingestEach writes observations one at a time, returning those the database
// refuses as data errors; any other error stops it.
func (s *scanner) ingestEach(ctx context.Context, obs []image.Observation) (map[int]error, error) {
	failed := map[int]error{}
	for i, o := range obs {
		if err := s.store.Ingest(ctx, []image.Observation{o}); err != nil {
			if !graph.IsDataError(err) {
				return failed, err
			}
			failed[i] = err
		}
	}
	return failed, nil
}

// collect is the writer's bookkeeping, in one goroutine: it batches results,
// sends full batches (or, every 250 ms, partial ones) to an idle writer, and
// passes each repository to finished once all its references are committed.
func (s *scanner) collect(ctx context.Context, results <-chan result, listed <-chan *repoTracker,
	todo chan<- []result, done <-chan flushed, finished chan<- *repoTracker) error {
	var batch []result
	inflight := 0
	open := map[*repoTracker]bool{}
	finish := func(t *repoTracker) error {
		delete(open, t)
		select {
		case finished <- t:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	written := func(f flushed) error {
		inflight--
		if f.err != nil {
			return f.err
		}
		for i, r := range f.batch {
			if ferr := f.failed[i]; ferr != nil {
				r.repo.res.Errors++
				r.repo.pending--
				werr := &walker.Error{Class: walker.Invalid, Reason: fmt.Sprintf("writing %s:%s: the database refused it: %v", r.repo.res.Name, r.ref, ferr), Err: ferr}
				if err := s.fail(ctx, r.repo.res.Name, r.ref, werr); err != nil {
					return err
				}
				if r.repo.pending == 0 && open[r.repo] {
					if err := finish(r.repo); err != nil {
						return err
					}
				}
				continue
			}
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
			if r.repo.pending == 0 && open[r.repo] {
				if err := finish(r.repo); err != nil {
					return err
				}
			}
		}
		return nil
	}
	ticker := time.NewTicker(250 * time.Millisecond)
	defer ticker.Stop()
	due := false // the ticker fired: send what there is
	for results != nil || listed != nil || inflight > 0 || len(batch) > 0 {
		// Send a batch when it is full, or due, and a writer is idle; stop
		// taking results while a full batch waits.
		var send chan<- []result
		in := results
		if len(batch) > 0 && (due || len(batch) >= s.opts.BatchSize || results == nil) && inflight < writers {
			send = todo
		}
		if len(batch) >= s.opts.BatchSize {
			in = nil
		}
		select {
		case send <- batch:
			inflight++
			batch = nil
			due = false
		case f := <-done:
			if err := written(f); err != nil {
				return err
			}
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
		case r, ok := <-in:
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
					if err := finish(r.repo); err != nil {
						return err
					}
				}
				continue
			}
			batch = append(batch, r)
		case <-ticker.C:
			due = true
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for t := range open {
		if t.pending != 0 {
			return fmt.Errorf("internal error: repository %s finished with %d references unwritten", t.res.Name, t.pending)
		}
		if err := finish(t); err != nil {
			return err
		}
	}
	return nil
}

// finish records a repository whose references are all written: its old
// failures are cleared and the scan notes it done. Called by the finisher
// goroutine only, in the order repositories complete.
func (s *scanner) finish(ctx context.Context, t *repoTracker) error {
	if len(t.refs) > 0 {
		if err := s.store.ClearFailures(ctx, s.opts.Name, t.res.Name, t.refs); err != nil {
			return fmt.Errorf("clearing old failures of %s: %w", t.res.Name, err)
		}
	}
	if err := s.store.ScanRepositoryDone(ctx, s.scanID, t.res.Name); err != nil {
		return fmt.Errorf("recording progress: %w", err)
	}
	s.done.Repositories++
	s.done.Tags += t.res.Tags
	s.done.Unchanged += t.res.Unchanged
	s.done.Walked += t.res.Walked
	s.done.DeletedTags += t.res.DeletedTags
	s.done.GoneManifests += t.res.GoneManifests
	s.done.Errors += t.res.Errors
	s.opts.Progress.Repository(t.res)
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
