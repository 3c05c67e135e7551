package hugeheap

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// faults counts the page faults a process takes to allocate n bytes as a
// report does (pieces of 4 to 256 KiB) and touch every page of them.
func faults(t *testing.T, n int) (int64, [][]byte) {
	t.Helper()
	var before, after syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
		t.Fatal(err)
	}
	var bufs [][]byte
	for size := 4 << 10; n > 0; size = size*2%(256<<10) + 4<<10 {
		b := make([]byte, size)
		for i := 0; i < len(b); i += 4 << 10 {
			b[i] = 1
		}
		bufs = append(bufs, b)
		n -= size
	}
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
		t.Fatal(err)
	}
	return after.Minflt - before.Minflt, bufs
}

var sink [][]byte

// TestReserve runs reserve in a process of its own: what a reservation
// advises stays in the heap of the process that made it.
func TestReserve(t *testing.T) {
	if os.Getenv("HUGEHEAP_TEST_CHILD") == "1" {
		reserve(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReserve$", "-test.v")
	cmd.Env = append(os.Environ(), "HUGEHEAP_TEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatal(err)
	}
}

func reserve(t *testing.T) {
	_, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled")
	offered := err == nil
	const mib = 1 << 20
	const smallPages = 16 * mib / (4 << 10)

	// Not enabled: the reservation does nothing, and 16 MiB fault page
	// by page. (What is allocated before a reservation stays live, as a
	// process's does.)
	Reserve(64 * mib)
	plain, bufs := faults(t, 16*mib)
	sink = bufs
	if plain < smallPages*3/4 {
		t.Fatalf("16 MiB took %d faults without a reservation; want about %d, one per page", plain, smallPages)
	}

	Enable()
	Reserve(4 * mib) // too little to pay
	if state.reserved != 0 {
		t.Errorf("reserved %d bytes for 4 MiB", state.reserved)
	}
	Reserve(64 * mib)
	reserved, bufs := faults(t, 16*mib)
	sink = append(sink, bufs...)
	t.Logf("16 MiB: %d faults without a reservation, %d after one (huge pages offered: %v)", plain, reserved, offered)
	switch {
	case offered && reserved > plain/4:
		t.Errorf("16 MiB after a reservation took %d faults, against %d without; want a quarter at most", reserved, plain)
	case !offered && reserved < plain/2:
		t.Errorf("16 MiB after a reservation took %d faults, against %d without, where Linux offers no huge pages", reserved, plain)
	}
}
