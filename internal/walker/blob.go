package walker

import (
	"context"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
)

// Blob opens the blob digest of registry/repository for reading, over the
// walker's connections and credentials. It is not bounded by the walk
// timeout: a large layer takes as long as its bytes take; ctx bounds it.
// The reader fails at its end when the bytes do not match digest.
func (w *Walker) Blob(ctx context.Context, registry, repository, digest string) (io.ReadCloser, error) {
	repo, err := w.Repository(registry, repository)
	if err != nil {
		return nil, err
	}
	d, err := name.NewDigest(repo.Name()+"@"+digest, name.Insecure)
	if err != nil {
		return nil, failf(Invalid, err, "blob digest %q: %v", digest, err)
	}
	if !w.insecure {
		d = rebase(d, repo).(name.Digest)
	}
	return w.open(ctx, d, "fetching blob "+d.String())
}

// open GETs a blob; errors say what was being done.
func (w *Walker) open(ctx context.Context, d name.Digest, doing string) (io.ReadCloser, error) {
	l, err := w.puller.Layer(ctx, d)
	if err != nil {
		return nil, Classify(doing, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, Classify(doing, err)
	}
	return rc, nil
}
