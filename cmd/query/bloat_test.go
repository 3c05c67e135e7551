package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/layerindex"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
	"github.com/layerq/layerq/internal/walker"
)

// unindexed is a database holding team/tricky:1.0, whose third step
// deletes what the second added (8000 bytes), with none of its 3 layers
// indexed yet; index indexes them.
func unindexed(t *testing.T) (url string, index func() error) {
	t.Helper()
	url = pgtest.NewDatabase(t)
	reg := registrytest.New(t)
	img, err := sample.Build(sample.Spec{Steps: []sample.Step{
		{CreatedBy: "ADD rootfs /", Files: []sample.File{{Path: "etc/os-release", Content: []byte("ID=x\n")}}},
		{CreatedBy: "RUN /bin/sh -c make", Files: []sample.File{{Path: "build/out.o", Content: sample.Bytes("o", 8000)}}},
		{CreatedBy: "RUN /bin/sh -c rm -rf /build", Files: []sample.File{sample.Whiteout("build")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	reg.PushImage(t, "team/tricky:1.0", img)
	scanInto(t, url, reg, false)
	return url, func() error {
		ctx := context.Background()
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			return err
		}
		defer pool.Close()
		w, err := walker.New(walker.Options{})
		if err != nil {
			return err
		}
		store := graph.New(pool)
		ls, err := layerindex.Pending(ctx, store, "reg.test", reg.Host, repoglob.Compile("").Regexp())
		if err != nil {
			return err
		}
		if sum, err := layerindex.Run(ctx, &layerindex.Indexer{Store: store}, w, ls, 1, nil); err != nil || sum.Indexed != 3 {
			return errors.Join(err, errors.New("not every layer was indexed: "+sum.String()))
		}
		return nil
	}
}

// A CI gate never passes an image it could not look at: with --fail-over
// or --wait, layers not indexed (or rejected) exit 4, a crossed threshold
// 3; without a gate flag, 0 with a note.
func TestBloatCannotJudge(t *testing.T) {
	url, index := unindexed(t)
	bloat := func(args ...string) (string, error) {
		t.Helper()
		out, _, err := runCLI(t, append([]string{"--database-url", url, "bloat", "--image", "team/tricky:1.0"}, args...)...)
		return out, err
	}
	status := func(err error) int {
		if err == nil {
			return 0
		}
		return exitCode(err)
	}
	const notIndexed = "cannot judge 1 image (exit status 4): 1 image has 3 layers not indexed yet: wait for layerq-ingest serve to index them (--wait DURATION waits here), or run layerq-ingest scan --layers"

	out, err := bloat()
	if err != nil || !strings.Contains(out, "0 images analyzed") ||
		!strings.Contains(out, "1 image is left out until their layers are indexed (3 layers to go): layerq-ingest serve indexes the layers of what is pushed; for images already in the registry, run layerq-ingest scan --layers") {
		t.Errorf("no gate: %v (exit %d)\n%s", err, status(err), out)
	}
	if _, err := bloat("--fail-over", "1"); status(err) != 4 || err.Error() != notIndexed {
		t.Errorf("--fail-over 1: %v (exit %d)", err, status(err))
	}
	// The layer count needs no file index: 3 layers are judged.
	if _, err := bloat("--max-layers", "3"); err != nil {
		t.Errorf("--max-layers 3: %v", err)
	}
	if _, err := bloat("--max-layers", "2"); status(err) != 3 || err.Error() != "1 image has more than 2 layers (--max-layers)" {
		t.Errorf("--max-layers 2: %v (exit %d)", err, status(err))
	}
	// Waiting in vain.
	if _, err := bloat("--fail-over", "1", "--wait", "1s"); status(err) != 4 ||
		!strings.HasPrefix(err.Error(), "cannot judge 1 image (exit status 4): 1 image has 3 layers not indexed after waiting 1s: ") {
		t.Errorf("--wait 1s: %v (exit %d)", err, status(err))
	}

	// A rejected layer: no wait helps; the notes say why in words and
	// how to retry.
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var blob string
	if err := pool.QueryRow(ctx, `SELECT blob_digest FROM manifest_layers WHERE position = 1`).Scan(&blob); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO layer_rejections (blob_digest, registry, repository, class, reason)
		VALUES ($1, 'reg.test', 'team/tricky', 'too_large', 'layer tar over 8 GiB')`, blob); err != nil {
		t.Fatal(err)
	}
	out, err = bloat("--fail-over", "1", "--wait", "10m")
	if status(err) != 4 || err.Error() != "cannot judge 1 image (exit status 4): 1 image has 2 layers not indexed yet: "+
		"wait for layerq-ingest serve to index them (--wait DURATION waits here), or run layerq-ingest scan --layers; "+
		"1 image has a layer that cannot be indexed (the report's notes say why, and how to retry)" {
		t.Errorf("rejected: %v (exit %d)", err, status(err))
	}
	if !strings.Contains(out, "1 image is left out because a layer of theirs cannot be indexed:\n  layer #1 of team/tricky:1.0 ("+blob+"): layer tar over 8 GiB; "+
		"it is over a limit of the layer indexer: to index it, raise --layer-max-bytes or --layer-max-entries, forget the verdict "+
		`(psql "$DATABASE_URL" -c "DELETE FROM layer_rejections WHERE blob_digest = '`+blob+`'") and run layerq-ingest scan --layers`) ||
		strings.Contains(out, "see layer_rejections") {
		t.Errorf("rejected notes:\n%s", out)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM layer_rejections`); err != nil {
		t.Fatal(err)
	}

	// Layers indexed while the gate waits: it judges them (8000 bytes
	// wasted, over 7999).
	indexed := make(chan error, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		indexed <- index()
	}()
	out, err = bloat("--fail-over", "7999", "--wait", "10m", "-o", "json")
	if ierr := <-indexed; ierr != nil {
		t.Fatal(ierr)
	}
	if status(err) != 3 || err.Error() != "1 image wastes more than 7999 bytes (--fail-over)" || !strings.Contains(out, `"wasted_bytes": 8000`) {
		t.Errorf("--wait while indexing: %v (exit %d)\n%s", err, status(err), out)
	}
	if _, err := bloat("--fail-over", "8000", "--wait", "10m"); err != nil {
		t.Errorf("--fail-over 8000 once indexed: %v", err)
	}
}
