//go:build !linux

package hugeheap

// modeFile is Linux's; elsewhere there is none.
const modeFile = ""

func advisedOnly() bool { return false }

func advise([]byte) bool { return false }
