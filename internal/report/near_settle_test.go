package report_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/report"
)

// keysStore is a LayerKeysStore whose apply fails with err, leaving left
// layers queued.
type keysStore struct {
	err     error
	left    int64
	applied int
}

func (s *keysStore) ApplyLayerKeys(context.Context) (int, error)    { s.applied++; return 0, s.err }
func (s *keysStore) QueuedLayerKeys(context.Context) (int64, error) { return s.left, nil }

// The layer report works out the queued keys first, and says what is left
// uncompared and why, without failing; the other kinds, and thresholds
// below the kept pairs', leave the queue alone.
func TestSettleNearLayers(t *testing.T) {
	ctx := context.Background()
	layer := report.DuplicatesOptions{Kind: "layer", MinSimilarity: 0.9}
	for _, c := range []struct {
		err  error
		left int64
		note string
	}{
		{nil, 0, ""},
		{graph.ErrLayerKeysReadOnly, 3, "3 layers indexed since layerq-ingest serve or scan --layers last worked out near-duplicate keys not compared yet (a read-only role does not)"},
		{graph.ErrStandby, 1, "1 layer indexed since the primary last worked out near-duplicate keys not compared yet (a standby does not)"},
		{&graph.LayerKeysFailedError{Layers: 1, First: "sha256:b", LastError: "boom"}, 1, "1 layer not compared yet: working out the near-duplicate keys of 1 layer failed; queued to be tried again (layer sha256:b: boom)"},
		{errors.New("connection reset"), 0, ""}, // nothing left: nothing to say
	} {
		s := &keysStore{err: c.err, left: c.left}
		note, err := report.SettleNearLayers(ctx, layer, s)
		if err != nil || s.applied != 1 || !strings.HasPrefix(note, c.note) || (c.note == "" && note != "") {
			t.Errorf("%v with %d left: note %q, %v, applied %d times; want %q", c.err, c.left, note, err, s.applied, c.note)
		}
	}
	for _, opts := range []report.DuplicatesOptions{{Kind: "blob"}, {Kind: "file"}, {Kind: "layer", MinSimilarity: 0.5}} {
		s := &keysStore{}
		if _, err := report.SettleNearLayers(ctx, opts, s); err != nil || s.applied != 0 {
			t.Errorf("%+v: applied %d times (%v), want none", opts, s.applied, err)
		}
	}
}
