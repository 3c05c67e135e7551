// Command faults prints the page faults this process takes to allocate
// 16 MiB as a report does (pieces of 4 to 256 KiB) and touch every page of
// them: first as the runtime gives memory, then after hugeheap.Enable and
// a reservation of 64 MiB. What it allocates first stays live, as a
// report's does. The test of package hugeheap runs it, built without the
// race detector, whose shadow memory would fault either way.
package main

import (
	"fmt"
	"os"
	"syscall"

	"github.com/layerq/layerq/internal/hugeheap"
)

var live [][]byte

func faults(n int) int64 {
	var before, after syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for size := 4 << 10; n > 0; size = size*2%(256<<10) + 4<<10 {
		b := make([]byte, size)
		for i := 0; i < len(b); i += 4 << 10 {
			b[i] = 1
		}
		live = append(live, b)
		n -= size
	}
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return int64(after.Minflt - before.Minflt)
}

func main() {
	plain := faults(16 << 20)
	hugeheap.Enable()
	hugeheap.Reserve(64 << 20)
	fmt.Println(plain, faults(16<<20))
}
