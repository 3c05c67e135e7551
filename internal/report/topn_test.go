package report

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTopN compares topN with sorting everything and cutting, on random
// values with many ties broken by a second key (as the reports order: by
// bytes, then by path), for n below 0, 0, 1, about the length and past
// it.
func TestTopN(t *testing.T) {
	type item struct{ bytes, key int }
	order := func(x, y item) int { return cmp.Or(cmp.Compare(y.bytes, x.bytes), cmp.Compare(x.key, y.key)) }
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, 2, 7, 100, 1000} {
		xs := make([]item, size)
		for i := range xs {
			xs[i] = item{bytes: r.IntN(10), key: i}
		}
		r.Shuffle(len(xs), func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
		want := slices.SortedFunc(slices.Values(xs), order)
		for _, n := range []int{-1, 0, 1, 2, 3, 10, 99, 100, 101, 999, 1000, 2000} {
			t.Run(fmt.Sprintf("%d of %d", n, size), func(t *testing.T) {
				got := topN(slices.Clone(xs), n, order)
				w := want
				if n > 0 && n < len(w) {
					w = w[:n]
				}
				if !slices.Equal(got, w) {
					t.Fatalf("topN %d: got %v, want %v", n, got, w)
				}
			})
		}
	}
}

// BenchmarkTopN: the top 50 of 30,000 changes, against sorting them all.
func BenchmarkTopN(b *testing.B) {
	type item struct {
		bytes int64
		path  string
	}
	order := func(x, y item) int { return cmp.Or(cmp.Compare(y.bytes, x.bytes), cmp.Compare(x.path, y.path)) }
	r := rand.New(rand.NewPCG(1, 2))
	xs := make([]item, 30_000)
	for i := range xs {
		xs[i] = item{bytes: r.Int64N(1 << 20), path: fmt.Sprintf("usr/lib/pkg%04d/file%03d.so", i/1000, i%1000)}
	}
	work := make([]item, len(xs))
	b.Run("topN", func(b *testing.B) {
		for b.Loop() {
			copy(work, xs)
			topN(work, 50, order)
		}
	})
	b.Run("sort-all", func(b *testing.B) {
		for b.Loop() {
			copy(work, xs)
			slices.SortFunc(work, order)
			_ = work[:50]
		}
	})
}
