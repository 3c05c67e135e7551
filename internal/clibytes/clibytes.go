// Package clibytes is a command-line flag that takes a byte size as people
// write them: 52428800, 50MB (decimal units, 50,000,000) or 1.5GiB (binary
// units), the way dive's CI rules read them.
package clibytes

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"
)

// Example is what the error of a bad size offers to type instead.
const Example = "52428800, 50MB or 1.5GiB"

// Value is a byte size that a flag sets; it is a flag.Value and a
// cli.Generic.
type Value struct {
	flag  string // the flag's name, for the error of a bad size
	bytes int64
}

// Parse reads s as a byte size: a whole number of bytes (negative too, for
// flags where -1 means "off"), or a number with a unit, decimal (kB, MB,
// GB, TB…: powers of 1000) or binary (KiB, MiB, GiB, TiB…: powers of 1024),
// in any case and with or without a space (1.5GiB, 50 mb).
func Parse(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	n, err := humanize.ParseBytes(s)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt64 {
		return 0, fmt.Errorf("too large: %v", s)
	}
	return int64(n), nil
}

// Set parses s; a bad size is an error that names the flag and gives an
// example, in one line.
func (v *Value) Set(s string) error {
	n, err := Parse(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("--%s %q: give bytes like %s", v.flag, s, Example)
	}
	v.bytes = n
	return nil
}

// String is the size in bytes, or in KiB, MiB, GiB or TiB when it is a
// whole number of them; Parse reads it back.
func (v *Value) String() string {
	if v == nil {
		return "0"
	}
	for _, u := range binaryUnits {
		if v.bytes > 0 && v.bytes%u.size == 0 {
			return strconv.FormatInt(v.bytes/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(v.bytes, 10)
}

// binaryUnits are the units String writes, largest first.
var binaryUnits = []struct {
	name string
	size int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}

// Bytes is the size set, or the default.
func (v *Value) Bytes() int64 { return v.bytes }

// Flag is the flag name taking a byte size, value when not given. usage
// should name the size `BYTES`; the help adds that units are accepted.
// Each call makes a new Value: a flag is not shared between apps.
func Flag(name string, value int64, usage string) *cli.GenericFlag {
	return &cli.GenericFlag{
		Name:  name,
		Value: &Value{flag: name, bytes: value},
		Usage: usage + " (units accepted: 50MB, 1.5GiB)",
	}
}

// Get is the byte size of the flag name, which Flag made, in c.
func Get(c *cli.Context, name string) int64 {
	v, ok := c.Generic(name).(*Value)
	if !ok {
		panic("clibytes: --" + name + " is not a byte-size flag")
	}
	return v.Bytes()
}

// ParseThreshold reads a growth threshold as flag takes it: bytes (50MB)
// or a percentage (10%); the other is -1. A bad one is an error naming
// the flag, with examples.
func ParseThreshold(flag, s string) (bytes int64, percent float64, err error) {
	if p, ok := strings.CutSuffix(strings.TrimSpace(s), "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return 0, 0, fmt.Errorf("--%s %q: give a percentage like 10%% or bytes like 50MB", flag, s)
		}
		return -1, v, nil
	}
	b, err := Parse(strings.TrimSpace(s))
	if err != nil || b < 0 {
		return 0, 0, fmt.Errorf("--%s %q: give bytes like %s, or a percentage like 10%%", flag, s, Example)
	}
	return b, -1, nil
}
