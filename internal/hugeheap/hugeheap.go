// Package hugeheap lets a short-lived process that is about to build a
// large in-memory structure take that memory from transparent huge pages.
//
// A command-line report that builds two final filesystems of 1 GB images
// allocates tens of megabytes in a fraction of a second; every 4 KiB page
// of it is a page fault the first time it is touched, and on a virtual
// machine a fault costs microseconds: 7,400 of them were a third of the
// process's wall time (docs/benchmarks.md). Linux backs a mapping with 2
// MiB pages when the mapping asks (madvise MADV_HUGEPAGE) and the system's
// mode (/sys/kernel/mm/transparent_hugepage/enabled) is "madvise", the
// default of many distributions; the Go runtime does not ask for its
// heap. Reserve makes the next part of the heap such a mapping: it
// allocates a block of that size (in a young heap the runtime maps it
// fresh, untouched), advises it, and drops it at once with a collection,
// so that the runtime's page allocator, which takes the lowest free
// addresses first, hands that block out again to what comes next. Under
// "always" every heap already has huge pages, and under "never" none can:
// Reserve then does nothing.
//
// Only a process that opts in (Enable, from its main) reserves, and only
// once: a server with a large live heap would pay a forced collection,
// and keeps its memory for long enough that 2 MiB pages may hold more
// than it uses; a later reservation in a process that has run for a
// while would land in recycled memory, which the runtime zeroes anyway.
package hugeheap

import (
	"bytes"
	"runtime"
	"sync"
)

// Bounds of the reservation: below min the faults saved do not pay for
// the collection; above max the block is only address space anyway, and a
// process that needs more takes the rest in small pages.
const (
	minBytes = 8 << 20
	maxBytes = 1 << 30
)

var state struct {
	sync.Mutex
	enabled bool // Enable was called, and the system's mode is madvise
	done    bool // the one reservation was made
}

// Enable lets Reserve work in this process, if the system backs advised
// memory, and only advised memory, with huge pages.
func Enable() {
	state.Lock()
	defer state.Unlock()
	state.enabled = advisedOnly()
}

// Reserve makes the next n bytes the process allocates (at most 1 GiB)
// come from huge pages, the first time it is called with 8 MiB or more
// after Enable; otherwise it does nothing.
func Reserve(n int64) {
	state.Lock()
	defer state.Unlock()
	if !state.enabled || state.done || n < minBytes {
		return
	}
	state.done = true
	block := make([]byte, min(n, maxBytes))
	if advise(block) {
		runtime.GC() // block is dead: its pages are free again, advised
	}
}

// modeAdvised reports whether mode, as modeFile holds it, is madvise.
func modeAdvised(mode []byte) bool {
	return bytes.Contains(mode, []byte("[madvise]"))
}
