package hugeheap

import (
	"os"

	"golang.org/x/sys/unix"
)

// modeFile holds the system's transparent huge page mode, the one in
// brackets: "always [madvise] never".
const modeFile = "/sys/kernel/mm/transparent_hugepage/enabled"

// advisedOnly reports whether the mode is madvise.
func advisedOnly() bool {
	b, err := os.ReadFile(modeFile)
	return err == nil && modeAdvised(b)
}

// advise asks Linux to back b with huge pages.
func advise(b []byte) bool {
	return unix.Madvise(b, unix.MADV_HUGEPAGE) == nil
}
