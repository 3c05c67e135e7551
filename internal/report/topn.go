package report

import (
	"container/heap"
	"slices"
)

// topN returns the n first elements of xs in the order of cmp, sorted
// (all of them when n <= 0 or n >= len(xs)). It reorders xs, and the
// result shares its memory. A report that lists its top 20 of 100,000
// changes or duplicates keeps the 20 in a heap as it reads the rest: for
// xs in no particular order (a map's), about one comparison each instead
// of a sort's log2(len(xs)), and a heap update for the few that enter.
func topN[T any](xs []T, n int, cmp func(a, b T) int) []T {
	if n <= 0 || n >= len(xs) {
		slices.SortFunc(xs, cmp)
		return xs
	}
	h := &lastOnTop[T]{xs: xs[:n], cmp: cmp}
	heap.Init(h)
	for _, x := range xs[n:] {
		if cmp(x, h.xs[0]) < 0 {
			h.xs[0] = x
			heap.Fix(h, 0)
		}
	}
	slices.SortFunc(h.xs, cmp)
	return h.xs
}

// lastOnTop is a heap of the elements kept so far whose root is the last
// of them in the order of cmp: the one a better element replaces.
type lastOnTop[T any] struct {
	xs  []T
	cmp func(a, b T) int
}

func (h *lastOnTop[T]) Len() int           { return len(h.xs) }
func (h *lastOnTop[T]) Less(i, j int) bool { return h.cmp(h.xs[i], h.xs[j]) > 0 }
func (h *lastOnTop[T]) Swap(i, j int)      { h.xs[i], h.xs[j] = h.xs[j], h.xs[i] }
func (h *lastOnTop[T]) Push(x any)         { h.xs = append(h.xs, x.(T)) }
func (h *lastOnTop[T]) Pop() any {
	x := h.xs[len(h.xs)-1]
	h.xs = h.xs[:len(h.xs)-1]
	return x
}
