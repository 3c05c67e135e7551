package fileindex

import "testing"

func TestEntryTypeString(t *testing.T) {
	t.Parallel()
	for typ, want := range map[EntryType]string{File: "file", Opaque: "opaque", Other: "other", 0: "EntryType(0)", 200: "EntryType(200)"} {
		if got := typ.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", typ, got, want)
		}
	}
}
