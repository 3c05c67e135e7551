package receiver

import (
	"errors"
	"strings"
)

// AddToken adds a bearer token given as [SOURCE=]TOKEN to creds. What
// comes before the first "=" is a SOURCE only when it is one of Sources;
// otherwise the whole value is the token, so a token may hold "=" (base64
// padding). A token without a SOURCE is accepted from every source ("*").
// The value is a secret: the error never holds it.
func AddToken(creds map[string]Credentials, v string) error {
	src, tok := splitSource(v)
	if tok == "" {
		return errors.New("has no token: it takes [SOURCE=]TOKEN")
	}
	cr := creds[src]
	cr.Tokens = append(cr.Tokens, tok)
	creds[src] = cr
	return nil
}

// AddBasic adds basic credentials given as [SOURCE=]USER:PASSWORD to
// creds, read as AddToken reads a token; the user may not hold ":", the
// password may hold "=" and ":".
func AddBasic(creds map[string]Credentials, v string) error {
	src, up := splitSource(v)
	if user, pass, ok := strings.Cut(up, ":"); !ok || user == "" || pass == "" {
		return errors.New(`is not USER:PASSWORD: it takes [SOURCE=]USER:PASSWORD, with a user (no ":" in it) and a password`)
	}
	cr := creds[src]
	cr.Basic = append(cr.Basic, up)
	creds[src] = cr
	return nil
}

func splitSource(v string) (source, value string) {
	if src, val, ok := strings.Cut(v, "="); ok {
		for _, s := range Sources {
			if s == src {
				return src, val
			}
		}
	}
	return "*", v
}
