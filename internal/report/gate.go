package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/layerq/layerq/internal/output"
)

// The exit statuses of a CI gate on the bloat report; 1 means layerq
// itself failed.
const (
	// GateCrossed: an image crossed --fail-over or --max-layers.
	GateCrossed = 3
	// GateCannotJudge: an image cannot be judged: layers of it are not
	// indexed yet, or one cannot be indexed.
	GateCannotJudge = 4
)

// Gate is what a CI gate asks of the bloat report.
type Gate struct {
	FailOver  int64 // -1: not asked
	MaxLayers int
	Wait      time.Duration
	// TimedOut: layers were still not indexed when the wait ran out.
	TimedOut bool
}

// Judge turns the report into a *GateError with exit status 3 when an image crosses a
// threshold, else 4 when a gate was asked and the report selected no live
// image, or when --fail-over or --wait was given and an image could not be
// judged.
// It counts every image the report selected, not only those it lists; the
// report must have been loaded with the gate's FailOver and MaxLayers.
func (g Gate) Judge(b *Bloat) error {
	over, tooMany := 0, b.counts.overMaxLayers // the layer count needs no file index
	if g.FailOver >= 0 {
		over = b.counts.overFailOver
	}
	var why []string
	if over > 0 {
		why = append(why, fmt.Sprintf("%s more than %d bytes (--fail-over)", output.Count(int64(over), "image wastes", "images waste"), g.FailOver))
	}
	if tooMany > 0 {
		why = append(why, fmt.Sprintf("%s more than %d layers (--max-layers)", output.Count(int64(tooMany), "image has", "images have"), g.MaxLayers))
	}
	if len(why) > 0 {
		return &GateError{Msg: strings.Join(why, "; "), Status: GateCrossed}
	}
	if g.asked() && b.Analyzed+b.Pending == 0 {
		// A --repo that matches no live image (a typo, say) judges
		// nothing: a gate never passes blind.
		return &GateError{Msg: fmt.Sprintf("cannot judge (exit status %d): no live image selected: check --repo and --image, or wait for the push to arrive", GateCannotJudge), Status: GateCannotJudge}
	}
	if (g.FailOver < 0 && g.Wait == 0) || b.Pending == 0 {
		return nil
	}
	waiting, refused := b.LeftOutCounts()
	var parts []string
	if waiting > 0 {
		since := "yet"
		if g.TimedOut {
			since = "after waiting " + g.Wait.String()
		}
		parts = append(parts, fmt.Sprintf("%s %s not indexed %s: wait for layerq-ingest serve to index them (--wait DURATION waits here), or run layerq-ingest scan --layers",
			output.Count(int64(waiting), "image has", "images have"), output.Count(int64(b.Backlog().Unindexed), "layer", "layers"), since))
	}
	if refused > 0 {
		parts = append(parts, fmt.Sprintf("%s a layer that cannot be indexed (the report's notes say why, and how to retry)", output.Count(int64(refused), "image has", "images have")))
	}
	return &GateError{Msg: fmt.Sprintf("cannot judge %s (exit status %d): %s", output.Count(int64(b.Pending), "image", "images"), GateCannotJudge, strings.Join(parts, "; ")), Status: GateCannotJudge}
}

// asked says whether a gate was asked for at all.
func (g Gate) asked() bool { return g.FailOver >= 0 || g.MaxLayers > 0 || g.Wait > 0 }

// GateError is a CI gate's verdict other than a pass: the report is
// printed, and the process exits with Status (GateCrossed or
// GateCannotJudge; not 1, which means layerq failed).
type GateError struct {
	Msg    string
	Status int
}

func (e *GateError) Error() string { return e.Msg }
