// Package redact hides secrets in connection strings, and in messages that
// may quote them, before they reach a log line, an error or a span.
//
// It knows the forms layerq is given: URLs with a password (or, for NATS, a
// token) in their user info and secrets as query parameters
// (postgres://u:pw@host/db, postgres://u@host/db?password=pw,
// nats://u:pw@host:4222, nats://token@host), comma-separated lists of such
// URLs (nats://u:pw@a:4222,nats://u:pw@b:4222, postgres://u:pw@h1,h2/db),
// and Postgres keyword/value strings (host=h password='p w'). Where a
// malformed string leaves the boundaries of a secret in doubt, more is
// hidden rather than less.
package redact

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Mask stands in for a hidden secret, as in url.URL.Redacted.
const Mask = "xxxxx"

// minSecret is the shortest secret Text looks for in a message: a shorter
// one would be found inside ordinary words and mangle the message without
// protecting much.
const minSecret = 4

// span is a secret's place in a connection string, [start, end), and how
// its value is escaped there.
type span struct {
	start, end int
	escape     escaping
}

type escaping int

const (
	pathEscaped escaping = iota // user info: percent-encoded
	queryEscaped
	keywordValue // keyword/value: backslash escapes, maybe single-quoted
)

// URL returns the connection string s with every secret it carries
// replaced by Mask; the rest (scheme, user, hosts, ports, database, other
// parameters) is left as written.
func URL(s string) string {
	sp := spans(s)
	if len(sp) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, x := range sp {
		b.WriteString(s[last:x.start])
		b.WriteString(Mask)
		last = x.end
	}
	b.WriteString(s[last:])
	return b.String()
}

// Secrets returns the secret values in the connection string s, both as
// written and decoded, so that Text can find them in a message that quotes
// either.
func Secrets(s string) []string {
	var out []string
	add := func(v string) {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	for _, x := range spans(s) {
		raw := s[x.start:x.end]
		add(raw)
		switch x.escape {
		case pathEscaped:
			if v, err := url.PathUnescape(raw); err == nil {
				add(v)
			}
		case queryEscaped:
			if v, err := url.QueryUnescape(raw); err == nil {
				add(v)
			}
			if v, err := url.PathUnescape(raw); err == nil {
				add(v)
			}
		case keywordValue:
			add(unquoteKeywordValue(raw))
		}
	}
	return out
}

// Text returns text with the secrets of the connection strings conns
// hidden: each connection string as a whole is replaced by its URL form,
// and each secret it carries (as written or decoded, if at least 4
// characters long) by Mask.
func Text(text string, conns ...string) string {
	var pairs, secrets []string
	for _, c := range conns {
		if len(c) >= minSecret {
			pairs = append(pairs, c, URL(c))
		}
		secrets = append(secrets, Secrets(c)...)
	}
	// Longest first, so that a secret containing another goes whole.
	slices.SortStableFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, s := range secrets {
		if len(s) >= minSecret {
			pairs = append(pairs, s, Mask)
		}
	}
	if len(pairs) == 0 {
		return text
	}
	// One pass: what was put in is not searched again.
	return strings.NewReplacer(pairs...).Replace(text)
}

// Error returns err with the secrets of conns hidden in its message (see
// Text), and in the message of every error it wraps, as an error chain
// walker reads them. errors.Is and errors.As still see err's chain as it
// is: an error taken out with errors.As is the original, unredacted one.
//
// A *url.Error in the chain has its URL redacted and the quoted parts of
// its reason hidden: a reason such as `invalid port ":pw@host" after host`
// quotes what the parser stumbled on, which may be a piece of a password.
func Error(err error, conns ...string) error {
	if err == nil {
		return nil
	}
	return &redacted{err: err, conns: conns}
}

type redacted struct {
	err   error
	conns []string
	// hideQuoted: err is the reason of a *url.Error.
	hideQuoted bool
}

func (r *redacted) Error() string {
	msg := r.err.Error()
	if r.hideQuoted {
		msg = quoted.ReplaceAllLiteralString(msg, strconv.Quote(Mask))
	}
	var ue *url.Error
	if errors.As(r.err, &ue) {
		safe := fmt.Sprintf("%s %q: %s", ue.Op, URL(ue.URL), quoted.ReplaceAllLiteralString(ue.Err.Error(), strconv.Quote(Mask)))
		msg = strings.ReplaceAll(msg, ue.Error(), safe)
	}
	return Text(msg, r.conns...)
}

// Unwrap returns the wrapped errors, each redacted the same way, for code
// that walks a chain to its root cause and prints that.
func (r *redacted) Unwrap() []error {
	var next []error
	switch e := r.err.(type) {
	case interface{ Unwrap() error }:
		if n := e.Unwrap(); n != nil {
			next = []error{n}
		}
	case interface{ Unwrap() []error }:
		next = e.Unwrap()
	}
	_, isURL := r.err.(*url.Error)
	out := make([]error, 0, len(next))
	for _, n := range next {
		if n != nil {
			out = append(out, &redacted{err: n, conns: r.conns, hideQuoted: r.hideQuoted || isURL})
		}
	}
	return out
}

func (r *redacted) Is(target error) bool { return errors.Is(r.err, target) }
func (r *redacted) As(target any) bool   { return errors.As(r.err, target) }

// quoted matches a Go-quoted string, as %q writes it.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// keywordStart matches the start of a keyword/value connection string.
var keywordStart = regexp.MustCompile(`^\s*[A-Za-z_][A-Za-z0-9_.-]*\s*=`)

// spans finds the secrets of s, in order, not overlapping.
func spans(s string) []span {
	var sp []span
	if !strings.Contains(s, "://") && keywordStart.MatchString(s) {
		sp = keywordSpans(s)
	} else {
		sp = append(userinfoSpans(s), querySpans(s)...)
	}
	slices.SortFunc(sp, func(a, b span) int { return a.start - b.start })
	// Merge overlaps (malformed input can make the two kinds meet).
	var out []span
	for _, x := range sp {
		if n := len(out); n > 0 && x.start <= out[n-1].end {
			out[n-1].end = max(out[n-1].end, x.end)
			continue
		}
		out = append(out, x)
	}
	return out
}

// userinfoSpans finds the password before each '@' of a URL or a list of
// URLs, and the user itself where it is a token (a URL that is not a
// Postgres one, as NATS takes nats://TOKEN@host). The user info of an '@'
// starts after the last "://" or '@' before it; a password runs from the
// first ':' in it to the '@', even across a ',' or '/', which is more than a
// well-formed URL needs. An '@' after the path has begun is not user info.
func userinfoSpans(s string) []span {
	var out []span
	for i := 0; i < len(s); i++ {
		if s[i] != '@' {
			continue
		}
		start, scheme := 0, ""
		if j := strings.LastIndex(s[:i], "://"); j >= 0 {
			start, scheme = j+3, schemeBefore(s, j)
		}
		if j := strings.LastIndexByte(s[:i], '@'); j >= 0 && j+1 > start {
			start, scheme = j+1, ""
		}
		info := s[start:i]
		colon := strings.IndexByte(info, ':')
		path := strings.IndexAny(info, "/?#")
		switch {
		case info == "":
		case colon >= 0 && (path < 0 || colon < path):
			if colon+1 < len(info) {
				out = append(out, span{start: start + colon + 1, end: i, escape: pathEscaped})
			}
		case colon < 0 && path < 0 && scheme != "postgres" && scheme != "postgresql":
			out = append(out, span{start: start, end: i, escape: pathEscaped})
		}
	}
	return out
}

// schemeBefore returns the lower-cased scheme that ends at s[j] ("://" at j).
func schemeBefore(s string, j int) string {
	k := j
	for k > 0 && isSchemeChar(s[k-1]) {
		k--
	}
	return strings.ToLower(s[k:j])
}

func isSchemeChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
}

// querySpans finds the values of secret query parameters: from after
// "?key=" or "&key=" to the next '&', '#' or white space.
func querySpans(s string) []span {
	var out []span
	for i := 0; i < len(s); i++ {
		if s[i] != '?' && s[i] != '&' {
			continue
		}
		eq := strings.IndexAny(s[i+1:], "=&#? \t\r\n")
		if eq < 0 || s[i+1+eq] != '=' {
			continue
		}
		key := s[i+1 : i+1+eq]
		start := i + 1 + eq + 1
		end := strings.IndexAny(s[start:], "&# \t\r\n")
		if end < 0 {
			end = len(s) - start
		}
		if k, err := url.QueryUnescape(key); err == nil {
			key = k
		}
		if secretKey(key) && end > 0 {
			out = append(out, span{start: start, end: start + end, escape: queryEscaped})
		}
		i = start + end - 1
	}
	return out
}

// keywordSpans finds the values of secret keywords in a keyword/value
// connection string, read as libpq reads one: a value is single-quoted
// (with \' and \\ escapes) or runs to the next white space (with backslash
// escapes). If the string stops parsing, everything from the value of a
// secret keyword on is taken as its value.
func keywordSpans(s string) []span {
	var out []span
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) {
			return out
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return out
		}
		key := strings.TrimSpace(s[i : i+eq])
		i += eq + 1
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		start := i
		if i < len(s) && s[i] == '\'' {
			i++
			for i < len(s) && s[i] != '\'' {
				if s[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(s) { // unterminated: the rest is the value
				i = len(s)
			} else {
				i++
			}
		} else {
			for i < len(s) && !isSpace(s[i]) {
				if s[i] == '\\' {
					i++
				}
				i++
			}
			i = min(i, len(s))
		}
		if secretKey(key) && i > start {
			out = append(out, span{start: start, end: i, escape: keywordValue})
		}
		if strings.ContainsAny(key, " \t\r\n") && len(out) > 0 {
			// A keyword with a space in it: the string does not parse.
			out[len(out)-1].end = len(s)
			return out
		}
	}
}

// unquoteKeywordValue undoes the quoting and escapes of a keyword/value
// value.
func unquoteKeywordValue(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		v = v[1 : len(v)-1]
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// secretKey reports whether a query parameter or keyword names a secret:
// libpq's password and sslpassword, and the usual names of passwords,
// tokens and keys.
func secretKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range []string{"pass", "pwd", "secret", "token", "apikey", "api_key", "api-key", "credential", "signature"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return k == "sig" || k == "key" || k == "auth"
}
