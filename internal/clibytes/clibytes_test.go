package clibytes

import (
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"8000", 8000},
		{"-1", -1}, // "off", for flags that take it
		{"52428800", 52428800},
		{"20MB", 20_000_000},
		{"50MB", 50_000_000},
		{"50 mb", 50_000_000},
		{"10kB", 10_000},
		{"1K", 1_000},
		{"1KiB", 1_024},
		{"50MiB", 52_428_800},
		{"1.5GiB", 1_610_612_736},
		{"1.5GB", 1_500_000_000},
		{"2TiB", 2_199_023_255_552},
		{"1,000", 1_000},
		{"7B", 7},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if err != nil || got != c.want {
			t.Errorf("Parse(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "10 zebras", "MB", "-5MB", "1e6", "ten", "9EiB", "99999999999999999999"} {
		if got, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %d; want an error", bad, got)
		}
	}
}

func TestSetAndString(t *testing.T) {
	t.Parallel()
	v := &Value{flag: "fail-over", bytes: -1}
	if v.String() != "-1" {
		t.Errorf("default = %q, want -1", v.String())
	}
	if err := v.Set("10 zebras"); err == nil || err.Error() != `--fail-over "10 zebras": give bytes like 52428800, 50MB or 1.5GiB` {
		t.Errorf("Set(10 zebras) = %v", err)
	}
	if v.Bytes() != -1 {
		t.Errorf("a bad value changed the size to %d", v.Bytes())
	}
	for _, c := range []struct {
		in, str string
		bytes   int64
	}{
		{"1MiB", "1MiB", 1 << 20},
		{"8GiB", "8GiB", 8 << 30},
		{"1.5KiB", "1536", 1536}, // not a whole number of any larger unit: bytes
		{"3kB", "3000", 3000},
		{"2048", "2KiB", 2048},
		{"0", "0", 0},
	} {
		if err := v.Set(c.in); err != nil || v.Bytes() != c.bytes || v.String() != c.str {
			t.Errorf("Set(%q): %d, %q, %v; want %d, %q", c.in, v.Bytes(), v.String(), err, c.bytes, c.str)
		}
		if back, err := Parse(v.String()); err != nil || back != c.bytes {
			t.Errorf("Parse(String() = %q) = %d, %v; want %d", v.String(), back, err, c.bytes)
		}
	}
}
