package repoglob

import "testing"

func TestMatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		glob, repo string
		want       bool
	}{
		{"", "a/b/c", true},
		{"**", "library/debian", true},
		{"team-a/*", "team-a/api", true},
		{"team-a/*", "team-a/api/v2", false},
		{"team-a/**", "team-a/api/v2", true},
		{"team-?/api", "team-b/api", true},
		{"team-?/api", "team-/api", false},
		{"library/debian", "library/debian", true},
		{"library/debian", "library/debian-slim", false},
		{"a.b/*", "axb/c", false},
		{"*", "debian", true},
		{"*", "library/debian", false},
		{"(x)|y+", "(x)|y+", true},
		{"café/*", "café/x", true},
		{"caf?/x", "café/x", true},
		{"日本/**", "日本/a/b", true},
		{"é", "e", false},
		{"a\xffb", "ab", false},
		{"a\xffb/*", "a\uFFFDb/x", true},
	}
	var zero Glob
	if !zero.Match("any/thing") || zero.String() != "**" || zero.Regexp() != "^.*$" {
		t.Error("the zero Glob does not match everything")
	}
	for _, c := range cases {
		if got := Compile(c.glob).Match(c.repo); got != c.want {
			t.Errorf("Compile(%q).Match(%q) = %v, want %v", c.glob, c.repo, got, c.want)
		}
	}
}
