package main

import (
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/layerindex"
	"github.com/layerq/layerq/internal/scan"
)

// newProgress shows a scan's progress: a bar on a terminal, log lines otherwise.
func newProgress(w io.Writer) scan.Progress {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
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
	fmt.Fprintf(p.w, "%s %d repositories\n", verb, n)
}

func (p *lineProgress) Repository(r scan.RepositoryResult) {
	fmt.Fprintf(p.w, "repository %s: %d tags, %d walked, %d unchanged, %d tags deleted, %d errors\n",
		r.Name, r.Tags, r.Walked, r.Unchanged, r.DeletedTags, r.Errors)
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
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && len(layers) > 0 {
		bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("indexing "+layerCount(len(layers))),
			progressbar.OptionShowBytes(true),
			progressbar.OptionClearOnFinish(),
		)
	} else if len(layers) > 0 {
		fmt.Fprintf(w, "indexing %s (%d bytes)\n", layerCount(len(layers)), total)
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

// newKeysProgress tells w how the near-duplicate keys of the layers just
// indexed are worked out (graph.Store.ApplyLayerKeysProgress): a bar on a
// terminal, else one line as it starts. A scan of a large registry spends
// minutes there after its last layer. done clears the bar, which may end
// short of the count (a layer that failed before waits for a later call;
// serve may take some meanwhile).
func newKeysProgress(w io.Writer) (progress func(taken int, queued int64), done func()) {
	var bar *progressbar.ProgressBar
	started := false
	progress = func(taken int, queued int64) {
		if !started {
			started = true
			if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				bar = progressbar.NewOptions64(queued,
					progressbar.OptionSetWriter(w),
					progressbar.OptionSetDescription("near-duplicate keys"),
					progressbar.OptionShowCount(),
					progressbar.OptionSetItsString("layers"),
					progressbar.OptionShowIts(),
					progressbar.OptionSetRenderBlankState(true),
					progressbar.OptionClearOnFinish(),
				)
			} else {
				fmt.Fprintf(w, "working out the near-duplicate keys of %s\n", layerCount(int(queued)))
			}
		}
		if bar != nil {
			_ = bar.Set64(int64(taken))
		}
	}
	done = func() {
		if bar != nil {
			_ = bar.Clear()
		}
	}
	return progress, done
}

// newWasteProgress tells w how the waste of the images whose layers are
// now all indexed is worked out (report.SettleWasteProgress): a count on
// a terminal, else a line as it starts and one when it ends.
func newWasteProgress(w io.Writer) (progress func(saved int), done func()) {
	var bar *progressbar.ProgressBar
	last := 0
	terminal := false
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		terminal = true
	}
	progress = func(saved int) {
		if last == 0 {
			if terminal {
				bar = progressbar.NewOptions(-1,
					progressbar.OptionSetWriter(w),
					progressbar.OptionSetDescription("image waste"),
					progressbar.OptionShowCount(),
					progressbar.OptionSetItsString("images"),
					progressbar.OptionShowIts(),
				)
			} else {
				fmt.Fprintln(w, "working out the waste of the images whose layers are all indexed")
			}
		}
		last = saved
		if bar != nil {
			_ = bar.Set(saved)
		}
	}
	done = func() {
		if bar != nil {
			_ = bar.Clear()
		}
		if last > 0 && !terminal {
			fmt.Fprintf(w, "waste of %s worked out\n", imageCount(last))
		}
	}
	return progress, done
}

// imageCount is n images in words: "1 image", "12 images".
func imageCount(n int) string {
	if n == 1 {
		return "1 image"
	}
	return fmt.Sprintf("%d images", n)
}

// layerCount is n layers in words: "1 layer", "12 layers".
func layerCount(n int) string {
	if n == 1 {
		return "1 layer"
	}
	return fmt.Sprintf("%d layers", n)
}
