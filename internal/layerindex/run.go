package layerindex

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/layerq/layerq/internal/graph"
)

// Summary counts what a run did.
type Summary struct {
	Indexed, Skipped, Rejected, Failed int
	// Bytes is the compressed size of the layers indexed.
	Bytes int64
}

// String is the run's one-line summary.
func (s Summary) String() string {
	return fmt.Sprintf("layers: %d indexed (%d bytes read), %d already indexed, %d rejected, %d failed (see ingest_failures)",
		s.Indexed, s.Bytes, s.Skipped, s.Rejected, s.Failed)
}

// Progress hears about each layer a run finishes; it is called from one
// goroutine at a time.
type Progress func(l Layer, o Outcome, err error)

// Run indexes layers, jobs at a time; they use the database one at a time
// at first, and more at a time, up to one per job (or the pool's largest
// size), as they wait for it (Indexer.ConnPrice). A layer that cannot be
// fetched is recorded in ingest_failures (source "layerscan", the blob
// digest as reference) and the run goes on; a database failure stops it.
func Run(ctx context.Context, ix *Indexer, f Fetcher, layers []Layer, jobs int, progress Progress) (Summary, error) {
	if jobs < 1 {
		jobs = 1
	}
	// Largest first: with jobs at a time, the run ends when its longest
	// chain of layers does, and a big layer started last would run alone.
	layers = slices.Clone(layers)
	slices.SortStableFunc(layers, func(a, b Layer) int { return cmp.Compare(b.Size, a.Size) })
	var (
		mu  sync.Mutex
		sum Summary
	)
	price := ix.ConnPrice
	if price == 0 {
		price = DefaultConnPrice
	}
	conns := newConnGate(min(jobs, int(ix.Store.Pool().Config().MaxConns)), price)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for _, l := range layers {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			o, err := ix.index(gctx, f, l, conns)
			var fe *FetchError
			if errors.As(err, &fe) && gctx.Err() == nil {
				if rerr := conns.do(gctx, func() error {
					return ix.Store.RecordFailure(gctx, graph.Failure{
						Registry: l.Registry, Repository: l.Repository, Reference: l.Digest,
						Source: Source, Class: fe.Class(), Reason: fe.Error(),
					})
				}); rerr != nil {
					return rerr
				}
			} else if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				sum.Failed++
			case o == Indexed:
				sum.Indexed++
				sum.Bytes += l.Size
			case o == Skipped:
				sum.Skipped++
			case o == Rejected:
				sum.Rejected++
			}
			if progress != nil {
				progress(l, o, err)
			}
			return nil
		})
	}
	err := g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return sum, err
}

// Source is what layer indexing records as the source of its failures.
const Source = "layerscan"

// Pending lists the layers of a registry's live images in repositories
// matching repoRegexp that are neither indexed nor rejected; name is what
// the graph calls the registry, host where to fetch from.
func Pending(ctx context.Context, store *graph.Store, name, host, repoRegexp string) ([]Layer, error) {
	pending, err := store.PendingLayers(ctx, name, repoRegexp)
	if err != nil {
		return nil, err
	}
	layers := make([]Layer, len(pending))
	for i, p := range pending {
		layers[i] = Layer{Registry: name, Host: host, Repository: p.Repository, Digest: p.Digest, DiffID: p.DiffID, Size: p.Size}
	}
	return layers, nil
}
