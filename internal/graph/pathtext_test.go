package graph

import (
	"testing"
)

// Paths keep their bytes where they are UTF-8; other bytes become \xNN, and
// no two paths map to one text.
func TestPathText(t *testing.T) {
	cases := map[string]string{
		"usr/bin/tool":          "usr/bin/tool",
		"etc/caf\u00e9":         "etc/caf\u00e9",
		`dir\name`:              `dir\name`,
		"bad\xffname":           `bad\xffname`,
		`lit\xff`:               `lit\x5cxff`,
		"bad\xff" + `\x`:        `bad\xff\x5cx`,
		"trunc\xe2\x82":         `trunc\xe2\x82`,
		"\xc3\x28" + "/" + "ok": `\xc3(/ok`,
	}
	seen := map[string]string{}
	for in, want := range cases {
		got := pathText(in)
		if got != want {
			t.Errorf("pathText(%q) = %q, want %q", in, got, want)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("%q and %q both map to %q", in, other, got)
		}
		seen[got] = in
	}
}
