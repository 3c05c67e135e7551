package hugeheap

import "golang.org/x/sys/unix"

// advise asks Linux to back b with huge pages.
func advise(b []byte) bool {
	return unix.Madvise(b, unix.MADV_HUGEPAGE) == nil
}
