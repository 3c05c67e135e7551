package overlay

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/layerq/layerq/internal/fileindex"
)

// benchLayers builds a stack over a base of about n entries in n/1000
// package directories of 999 files each: layer 1 removes half the
// packages (a large subtree per whiteout), layer 2 chmods a file in
// every tenth package's worth, layer 3 makes a tenth of the packages
// opaque and writes 10 files into each again, layer 4 installs a new
// tree of n/10 files.
func benchLayers(n int) [][]fileindex.Entry {
	pkgs := n / 1000
	var id uint64
	fl := func(p string, size int64) fileindex.Entry {
		id++
		e := fileindex.Entry{Path: p, Type: fileindex.File, Size: size, Mode: 0o644}
		binary.BigEndian.PutUint64(e.Digest[:], id)
		return e
	}
	pkgDir := func(i int) string { return fmt.Sprintf("usr/lib/pkg%04d", i) }
	base := []fileindex.Entry{dir("."), dir("usr"), dir("usr/lib")}
	for i := range pkgs {
		d := pkgDir(i)
		base = append(base, dir(d))
		for j := range 999 {
			base = append(base, fl(fmt.Sprintf("%s/file%03d.so", d, j), int64(1000+j)))
		}
	}
	var rm, chmod, opaque, install []fileindex.Entry
	for i := 0; i < pkgs; i += 2 {
		rm = append(rm, wh(pkgDir(i)))
	}
	for i := 1; i < pkgs; i += 2 {
		for j := 0; j < 999; j += 10 {
			e := base[3+i*1000+1+j]
			e.Mode = 0o755
			chmod = append(chmod, e)
		}
	}
	for i := 1; i < pkgs; i += 10 {
		opaque = append(opaque, dir(pkgDir(i)), opq(pkgDir(i)))
		for j := range 10 {
			opaque = append(opaque, fl(fmt.Sprintf("%s/new%d", pkgDir(i), j), 100))
		}
	}
	install = append(install, dir("opt"), dir("opt/app"))
	for i := range n / 10 {
		if i%100 == 0 {
			install = append(install, dir(fmt.Sprintf("opt/app/d%d", i/100)))
		}
		install = append(install, fl(fmt.Sprintf("opt/app/d%d/f%d", i/100, i), 10))
	}
	return [][]fileindex.Entry{base, rm, chmod, opaque, install}
}

func BenchmarkApply(b *testing.B) {
	for _, n := range []int{200_000, 1_000_000} {
		b.Run(fmt.Sprintf("base=%d", n), func(b *testing.B) {
			layers := benchLayers(n)
			entries := 0
			for _, l := range layers {
				entries += len(l)
			}
			b.ReportAllocs()
			var res *Result
			for b.Loop() {
				res = Apply(layers)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(entries), "ns/entry")
			if len(res.Losses) == 0 || res.FinalFiles == 0 {
				b.Fatalf("nothing lost or nothing left: %d losses, %d files", len(res.Losses), res.FinalFiles)
			}
		})
	}
}

// BenchmarkShownPairs compares two images that share benchLayers' base
// and its removals, and differ above (a: the rest of benchLayers; b: its
// own install of as many files): ShownPairs against what it replaced, each
// side's Shown joined by path.
func BenchmarkShownPairs(b *testing.B) {
	const n = 200_000
	a := benchLayers(n)
	own := make([]fileindex.Entry, len(a[4]))
	for i, e := range a[4] {
		if e.Type == fileindex.File {
			e.Size++
		}
		own[i] = e
	}
	bs := [][]fileindex.Entry{a[0], a[1], own}
	const shared = 2
	b.Run("pairs", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			both := 0
			ShownPairs(a, bs, shared, func(p Pair) {
				if p.InA && p.InB {
					both++
				}
			})
			if both == 0 {
				b.Fatal("no path on both sides")
			}
		}
	})
	b.Run("shown-joined", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			fa, fb := Shown(a), Shown(bs)
			inA := make(map[string]int32, len(fa))
			for i, v := range fa {
				inA[v.Path] = int32(i)
			}
			both := 0
			for _, v := range fb {
				if _, ok := inA[v.Path]; ok {
					both++
					delete(inA, v.Path)
				}
			}
			if both == 0 {
				b.Fatal("no path on both sides")
			}
		}
	})
}
