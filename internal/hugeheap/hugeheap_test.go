package hugeheap

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

func TestModeAdvisedOnly(t *testing.T) {
	for mode, want := range map[string]bool{
		"always [madvise] never\n": true,
		"[always] madvise never\n": false,
		"always madvise [never]\n": false,
		"":                         false,
	} {
		if got := modeAdvised([]byte(mode)); got != want {
			t.Errorf("%q: %v, want %v", mode, got, want)
		}
	}
}

// TestReserveSavesFaults runs testdata/faults, a process of its own built
// without the race detector: 16 MiB allocated and touched before and
// after a reservation. Under the madvise mode the reservation saves most
// of the faults; under never it can save none; under always the heap has
// huge pages without it.
func TestReserveSavesFaults(t *testing.T) {
	mode, _ := os.ReadFile(modeFile)
	out, err := exec.Command("go", "run", "./testdata/faults").CombinedOutput()
	if err != nil {
		t.Fatalf("go run ./testdata/faults: %v\n%s", err, out)
	}
	var plain, reserved int64
	if _, err := fmt.Sscan(string(out), &plain, &reserved); err != nil {
		t.Fatalf("testdata/faults printed %q: %v", out, err)
	}
	t.Logf("mode %q: 16 MiB took %d faults without a reservation, %d after one", bytes.TrimSpace(mode), plain, reserved)
	const pages = 16 << 20 / (4 << 10)
	switch {
	case bytes.Contains(mode, []byte("[always]")):
		if plain > pages/4 {
			t.Errorf("16 MiB took %d faults under the always mode; want a few, one per 2 MiB", plain)
		}
	case plain < pages*3/4:
		t.Errorf("16 MiB took %d faults without a reservation; want about %d, one per page", plain, pages)
	case !modeAdvised(mode) && reserved < plain/2:
		t.Errorf("a reservation saved faults (%d against %d) where the system offers no huge pages", reserved, plain)
	case modeAdvised(mode) && reserved > plain/4:
		t.Errorf("16 MiB after a reservation took %d faults, against %d without; want a quarter at most", reserved, plain)
	}
}
