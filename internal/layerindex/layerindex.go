// Package layerindex indexes layer blobs: it fetches each layer blob once,
// streams it through layerscan, and stores the file index in the
// graph, or records why the layer cannot be indexed. It runs on demand over
// every pending layer of a registry (Run, for `scan --layers`) and as a
// consumer of the layer-scan stream that ingest feeds (Consumer).
package layerindex

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/layerscan"
	"github.com/layerq/layerq/internal/telemetry"
	"github.com/layerq/layerq/internal/walker"
)

// Fetcher opens layer blobs; *walker.Walker is one.
type Fetcher interface {
	// Blob opens the compressed blob digest of registry/repository. The
	// reader verifies the digest: at the end of bytes that do not match it
	// fails instead of returning io.EOF. Errors are *walker.Error, whose
	// Permanent says whether to try again.
	Blob(ctx context.Context, registry, repository, digest string) (io.ReadCloser, error)
}

// Outcome says what indexing one layer did.
type Outcome int

// Outcomes.
const (
	Indexed  Outcome = iota + 1 // the index was written
	Skipped                     // already indexed or rejected
	Rejected                    // the blob cannot be indexed; recorded in layer_rejections
)

// String returns "indexed", "skipped" or "rejected".
func (o Outcome) String() string {
	switch o {
	case Indexed:
		return "indexed"
	case Skipped:
		return "skipped"
	case Rejected:
		return "rejected"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// ClassDigestMismatch is the failure class of bytes that do not match the
// blob's digest or size.
const ClassDigestMismatch = "digest_mismatch"

// Indexer indexes layers into a graph store.
type Indexer struct {
	Store  *graph.Store
	Limits layerscan.Limits
	// Telemetry receives a span per layer scanned and the bytes read.
	Telemetry telemetry.Providers
	// ConnPrice is how long Run's layers wait for the database, in all,
	// before Run lets one more of them use it at a time (up to one per
	// job): DefaultConnPrice when zero; negative, one per job from the
	// start. Index alone uses the store as its pool gives connections.
	ConnPrice time.Duration

	once    sync.Once
	tracer  trace.Tracer
	scanned metric.Int64Counter
	layers  metric.Int64Counter
}

func (ix *Indexer) instruments() {
	ix.once.Do(func() {
		ix.tracer = ix.Telemetry.TracerFor()
		m := ix.Telemetry.MeterFor()
		// The instrument options are fixed and valid: errors cannot happen.
		ix.scanned, _ = m.Int64Counter("layerq.layer.scanned", metric.WithUnit("By"),
			metric.WithDescription("Compressed layer bytes read by the layer scanner."))
		ix.layers, _ = m.Int64Counter("layerq.layers", metric.WithUnit("{layer}"),
			metric.WithDescription("Layer scans by outcome (indexed, skipped, rejected, failed); a failure that is retried counts each attempt."))
	})
}

// Layer is one layer blob to index.
type Layer struct {
	// Registry is the graph's name for the registry; Host is where to fetch.
	Registry, Host string
	Repository     string
	Digest         string // of the compressed blob
	DiffID         string // the configs' claim, stored with the index, not checked
	Size           int64  // compressed, as the manifest says
}

// FetchError is a failure to get a layer's bytes from the registry: the
// blob is not judged, and may be fetched again later unless Permanent. A
// registry serving bytes that do not match the digest is one (class
// digest_mismatch, permanent for this fetch): those bytes are not the blob,
// so nothing is recorded against the blob itself.
type FetchError struct {
	Err       error
	class     string
	permanent bool
}

func (e *FetchError) Error() string { return e.Err.Error() }
func (e *FetchError) Unwrap() error { return e.Err }

// Permanent reports whether fetching again is pointless (the blob is gone,
// the reference is invalid).
func (e *FetchError) Permanent() bool {
	var we *walker.Error
	return e.permanent || errors.As(e.Err, &we) && we.Permanent()
}

// Class names the failure for ingest_failures.
func (e *FetchError) Class() string {
	if e.class != "" {
		return e.class
	}
	var we *walker.Error
	if errors.As(e.Err, &we) {
		return string(we.Class)
	}
	return "registry"
}

// Index fetches l from f, scans it and stores its index. A blob already
// indexed or rejected is not fetched.
// A nil error with Rejected means the verdict is recorded; an error means
// nothing was recorded: a *FetchError, or the database failed.
func (ix *Indexer) Index(ctx context.Context, f Fetcher, l Layer) (Outcome, error) {
	return ix.index(ctx, f, l, nil)
}

// index is Index using the database through conns.
func (ix *Indexer) index(ctx context.Context, f Fetcher, l Layer, conns *connGate) (o Outcome, err error) {
	ix.instruments()
	ctx, span := ix.tracer.Start(ctx, "scan layer", trace.WithAttributes(
		attribute.String("layerq.registry", l.Registry), attribute.String("layerq.repository", l.Repository),
		attribute.String("layerq.digest", l.Digest), attribute.Int64("layerq.size", l.Size)))
	var read int64
	defer func() {
		outcome := "failed"
		if err == nil {
			outcome = o.String()
		}
		ix.scanned.Add(ctx, read)
		ix.layers.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
		span.SetAttributes(attribute.String("layerq.outcome", outcome), attribute.Int64("layerq.bytes_read", read))
		telemetry.End(span, err)
	}()
	var done bool
	err = conns.do(ctx, func() (err error) {
		done, err = ix.Store.LayerDone(ctx, l.Digest)
		return err
	})
	if err != nil {
		return 0, err
	}
	if done {
		return Skipped, nil
	}
	rc, err := f.Blob(ctx, l.Host, l.Repository, l.Digest)
	if err != nil {
		return 0, &FetchError{Err: err}
	}
	defer rc.Close()
	// An endless body stops one byte past the declared size.
	var body io.Reader = rc
	if l.Size > 0 {
		body = io.LimitReader(rc, l.Size+1)
	} else {
		// No declared size: no blob is longer than its decompressed cap.
		body = io.LimitReader(rc, max(ix.Limits.MaxUncompressed, layerscan.DefaultMaxUncompressed)+1)
	}
	d := &countingReader{r: body}
	defer func() { read = d.n }()
	idx, scanErr := layerscan.Scan(d, ix.Limits)

	var rej *layerscan.Rejection
	if errors.As(scanErr, &rej) {
		// Judge the blob only if it is the blob: read the rest (at most the
		// declared size) so that the fetcher verifies its digest.
		if _, err := io.Copy(io.Discard, d); err != nil {
			d.err = err
		}
		scanErr = nil
	}
	// The blob's size and digest decide before anything is said of its
	// content. The fetcher verifies the digest: its reader fails instead of
	// ending when the bytes do not match, so a failure once every declared
	// byte has arrived is that verdict.
	mismatch := func(format string, args ...any) error {
		return &FetchError{Err: fmt.Errorf("reading layer %s from %s/%s: %s", l.Digest, l.Host, l.Repository, fmt.Sprintf(format, args...)), class: ClassDigestMismatch, permanent: true}
	}
	switch {
	case l.Size > 0 && d.n > l.Size:
		return 0, mismatch("the blob is longer than the %d bytes its manifest says", l.Size)
	case l.Size > 0 && d.eof && d.n < l.Size:
		return 0, mismatch("the blob is %d bytes, its manifest says %d", d.n, l.Size)
	case d.err != nil && l.Size > 0 && d.n == l.Size:
		return 0, mismatch("the bytes do not match the digest: %v", d.err)
	case d.err != nil:
		return 0, &FetchError{Err: fmt.Errorf("reading layer %s from %s/%s: %w", l.Digest, l.Host, l.Repository, d.err)}
	}
	if rej != nil {
		return Rejected, conns.do(ctx, func() error { return ix.reject(ctx, l, rej.Class, rej.Reason) })
	}
	if scanErr != nil {
		return 0, &FetchError{Err: fmt.Errorf("reading layer %s from %s/%s: %w", l.Digest, l.Host, l.Repository, scanErr)}
	}
	var wrote bool
	err = conns.do(ctx, func() (err error) {
		wrote, err = ix.Store.SaveLayerIndex(ctx, graph.LayerIndex{DiffID: l.DiffID, BlobDigest: l.Digest, CompressedSize: d.n, Index: idx})
		if err != nil {
			return err
		}
		return ix.Store.ClearFailures(ctx, l.Registry, l.Repository, []string{l.Digest})
	})
	if err != nil {
		return 0, err
	}
	if !wrote {
		return Skipped, nil
	}
	return Indexed, nil
}

func (ix *Indexer) reject(ctx context.Context, l Layer, class, reason string) error {
	err := ix.Store.RejectLayer(ctx, graph.LayerRejection{
		BlobDigest: l.Digest, DiffID: l.DiffID, Registry: l.Registry, Repository: l.Repository, Class: class, Reason: reason,
	})
	if err != nil {
		return err
	}
	return ix.Store.ClearFailures(ctx, l.Registry, l.Repository, []string{l.Digest})
}

// countingReader counts what passes through it and keeps the reader's
// first error.
type countingReader struct {
	r   io.Reader
	n   int64
	eof bool
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	switch {
	case err == io.EOF:
		c.eof = true
	case err != nil:
		c.err = err
	}
	return n, err
}
