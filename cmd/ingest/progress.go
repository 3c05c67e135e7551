package main

import (
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/layerindex"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/scan"
)

// newProgress shows a scan's progress: a bar on a terminal, log lines otherwise.
func newProgress(w io.Writer) scan.Progress {
	if isTerminal(w) {
		return &barProgress{w: w}
	}
	return &lineProgress{w: w}
}

type barProgress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func (p *barProgress) Start(n int, resumed bool) {
	desc := "scanning"
	if resumed {
		desc = "resuming scan"
	}
	p.bar = progressbar.NewOptions(n,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionSetItsString("repos"),
		progressbar.OptionShowIts(),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }),
	)
}

func (p *barProgress) Repository(scan.RepositoryResult) { _ = p.bar.Add(1) }

func (p *barProgress) Failure(f graph.Failure) {
	_ = p.bar.Clear()
	fmt.Fprintf(p.w, "error: %s:%s: %s\n", f.Repository, f.Reference, f.Reason)
}

type lineProgress struct{ w io.Writer }

func (p *lineProgress) Start(n int, resumed bool) {
	verb := "scanning"
	if resumed {
		verb = "resuming scan of"
	}
	fmt.Fprintf(p.w, "%s %s\n", verb, output.Count(int64(n), "repository", "repositories"))
}

func (p *lineProgress) Repository(r scan.RepositoryResult) {
	fmt.Fprintf(p.w, "repository %s: %s, %d walked, %d unchanged, %s deleted, %s\n", r.Name, output.Count(int64(r.Tags), "tag", "tags"),
		r.Walked, r.Unchanged, output.Count(int64(r.DeletedTags), "tag", "tags"), output.Count(int64(r.Errors), "error", "errors"))
}

func (p *lineProgress) Failure(f graph.Failure) {
	fmt.Fprintf(p.w, "error: %s:%s: %s\n", f.Repository, f.Reference, f.Reason)
}

// newLayerProgress shows layer indexing: a bar of bytes on a terminal, a
// line per rejected or failed layer either way.
func newLayerProgress(w io.Writer, layers []layerindex.Layer) layerindex.Progress {
	var total int64
	for _, l := range layers {
		total += l.Size
	}
	var bar *progressbar.ProgressBar
	if isTerminal(w) && len(layers) > 0 {
		bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("indexing "+output.Count(int64(len(layers)), "layer", "layers")),
			progressbar.OptionShowBytes(true),
			progressbar.OptionClearOnFinish(),
		)
	} else if len(layers) > 0 {
		fmt.Fprintf(w, "indexing %s (%d bytes)\n", output.Count(int64(len(layers)), "layer", "layers"), total)
	}
	return func(l layerindex.Layer, o layerindex.Outcome, err error) {
		if bar != nil {
			_ = bar.Add64(l.Size)
		}
		if err == nil && o != layerindex.Rejected {
			return
		}
		if bar != nil {
			_ = bar.Clear()
		}
		if err != nil {
			fmt.Fprintf(w, "error: layer %s of %s: %v\n", l.Digest, l.Repository, err)
		} else {
			fmt.Fprintf(w, "rejected: layer %s of %s (see layer_rejections)\n", l.Digest, l.Repository)
		}
	}
}

// newStepProgress tells w how a step after the layers goes, as progress
// hears how many items it has done of total (-1: not known): a count on a
// terminal (a bar when total is known), else the line start makes as it
// starts and the one end makes (if not nil) when done ends it. done also
// clears the bar, which may end short of total. The scan's waste and
// near-duplicate keys take minutes after the last layer of a large
// registry.
func newStepProgress(w io.Writer, desc, unit string, start func(total int64) string, end func(n int) string) (progress func(n int, total int64), done func()) {
	var bar *progressbar.ProgressBar
	started := false
	last := 0
	progress = func(n int, total int64) {
		if !started {
			started = true
			if isTerminal(w) {
				bar = progressbar.NewOptions64(total,
					progressbar.OptionSetWriter(w),
					progressbar.OptionSetDescription(desc),
					progressbar.OptionShowCount(),
					progressbar.OptionSetItsString(unit),
					progressbar.OptionShowIts(),
					progressbar.OptionSetRenderBlankState(true),
				)
			} else {
				fmt.Fprintln(w, start(total))
			}
		}
		last = n
		if bar != nil {
			_ = bar.Set(n)
		}
	}
	done = func() {
		switch {
		case bar != nil:
			_ = bar.Clear()
		case started && end != nil:
			fmt.Fprintln(w, end(last))
		}
	}
	return progress, done
}

// isTerminal says whether w is a terminal, where progress is drawn.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
