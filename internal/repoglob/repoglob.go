// Package repoglob matches repository names against the globs users pass as
// --repo, the same way in Go and in Postgres.
//
// Syntax: `*` matches any run of characters within one path segment, `**`
// matches across segments, `?` matches one character other than `/`; all else
// is literal. "team-a/*" matches team-a/api but not team-a/api/v2; "**" (or an
// empty glob) matches every repository.
package repoglob

import (
	"regexp"
	"strings"
)

// Glob is a compiled repository glob.
type Glob struct {
	src string
	re  *regexp.Regexp
}

// Compile compiles a glob; every string is a valid glob.
func Compile(glob string) Glob {
	if glob == "" {
		glob = "**"
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; c {
		case '*':
			if i+1 < len(glob) && glob[i+1] == '*' {
				b.WriteString(".*")
				i++
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		default:
			// The literal run whole: a byte alone would split a
			// character of more than one byte.
			n := strings.IndexAny(glob[i:], "*?")
			if n < 0 {
				n = len(glob) - i
			}
			// Bytes that are not UTF-8 (no name stored has any) stand
			// as U+FFFD, so the regexp compiles.
			b.WriteString(regexp.QuoteMeta(strings.ToValidUTF8(glob[i:i+n], "\uFFFD")))
			i += n - 1
		}
	}
	b.WriteString("$")
	return Glob{src: glob, re: regexp.MustCompile(b.String())}
}

// Match reports whether repository matches. The zero Glob matches all.
func (g Glob) Match(repository string) bool { return g.re == nil || g.re.MatchString(repository) }

// Regexp is the glob as a regular expression that Go and Postgres (`~`) read
// the same way.
func (g Glob) Regexp() string {
	if g.re == nil {
		return "^.*$"
	}
	return g.re.String()
}

// All reports whether the glob matches every repository ("**", "", or
// the zero Glob), so a report may read whole-graph aggregates.
func (g Glob) All() bool { return g.re == nil || g.re.String() == "^.*$" }

// String is the glob as given ("**" for the empty glob).
func (g Glob) String() string {
	if g.src == "" {
		return "**"
	}
	return g.src
}
