// Package hugeheap lets a short-lived process that is about to build a
// large in-memory structure take that memory from transparent huge pages.
//
// A command-line report that builds two final filesystems of 1 GB images
// allocates tens of megabytes in a fraction of a second; every 4 KiB page
// of it is a page fault the first time it is touched, and on a virtual
// machine a fault costs microseconds: 7,400 of them were a third of the
// process's wall time (docs/benchmarks.md). Linux backs a mapping with 2
// MiB pages when the mapping asks (madvise MADV_HUGEPAGE, under the
// default "madvise" mode of /sys/kernel/mm/transparent_hugepage/enabled),
// but the Go runtime does not ask for its heap. Reserve makes the next
// part of the heap such a mapping: it allocates a block of that size (the
// runtime maps it fresh), advises it, and drops it at once with a
// collection, so that the runtime's page allocator, which takes the
// lowest free addresses first, hands that block out again to what comes
// next.
//
// Only a process that opts in (Enable, from its main) reserves: a server
// with a large live heap would pay a forced collection, and keeps its
// memory for long enough that 2 MiB pages may hold more than it uses.
package hugeheap

import (
	"runtime"
	"sync"
)

// Bounds of one reservation: below min the faults saved do not pay for
// the collection; above max the block is only address space anyway, and a
// process that needs more takes the rest in small pages.
const (
	minBytes = 8 << 20
	maxBytes = 1 << 30
)

var state struct {
	sync.Mutex
	enabled  bool
	reserved int
}

// Enable lets Reserve work in this process.
func Enable() {
	state.Lock()
	defer state.Unlock()
	state.enabled = true
}

// Reserve makes the next n bytes the process allocates come from huge
// pages where Linux offers them, once per process (a larger n later adds
// the difference). It does nothing unless Enable was called, for less
// than 8 MiB, or where the system has no such advice.
func Reserve(n int) {
	state.Lock()
	defer state.Unlock()
	n = min(n, maxBytes)
	if !state.enabled || n < minBytes || n <= state.reserved {
		return
	}
	block := make([]byte, n-state.reserved)
	if !advise(block) {
		return
	}
	state.reserved = n
	runtime.GC() // block is dead: its pages are free again, advised
}
