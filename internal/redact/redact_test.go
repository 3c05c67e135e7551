package redact_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/layerq/layerq/internal/redact"
)

func TestURL(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, want string }{
		{"empty", "", ""},
		{"no secret", "postgres://layerq@db:5432/layerq?sslmode=disable", "postgres://layerq@db:5432/layerq?sslmode=disable"},
		{"user info password", "postgres://u:pw-1@127.0.0.1:1/db", "postgres://u:xxxxx@127.0.0.1:1/db"},
		{"postgresql scheme", "postgresql://u:pw-1@db/x", "postgresql://u:xxxxx@db/x"},
		{"escaped password", "postgres://u:p%40ss%2Fw%3Ard@db/x", "postgres://u:xxxxx@db/x"},
		{"base64 password with padding", "postgres://u:cGFzcw==@db/x", "postgres://u:xxxxx@db/x"},
		{"unescaped @ in password", "postgres://u:p@ss@db/x", "postgres://u:xxxxx@xxxxx@db/x"},
		{"unescaped / in password", "postgres://u:p/ss@db/x", "postgres://u:xxxxx@db/x"},
		{"unescaped , in password", "nats://u:pa,ss@nats:4222", "nats://u:xxxxx@nats:4222"},
		{"empty password", "postgres://u:@db/x", "postgres://u:@db/x"},
		{"password query parameter", "postgres://u@db/x?sslmode=disable&password=pw-2", "postgres://u@db/x?sslmode=disable&password=xxxxx"},
		{"password as first parameter", "postgres://u@db/x?password=pw-2&sslmode=disable", "postgres://u@db/x?password=xxxxx&sslmode=disable"},
		{"sslpassword parameter", "postgres://u@db/x?sslpassword=pw-3", "postgres://u@db/x?sslpassword=xxxxx"},
		{"parameter case", "postgres://u@db/x?PassWord=pw-3#frag", "postgres://u@db/x?PassWord=xxxxx#frag"},
		{"escaped parameter name", "postgres://u@db/x?pass%77ord=pw-3", "postgres://u@db/x?pass%77ord=xxxxx"},
		{"both", "postgres://u:pw-1@db/x?password=pw-2", "postgres://u:xxxxx@db/x?password=xxxxx"},
		{"multi-host postgres", "postgres://u:pw-1@h1:5432,h2:5433/db?target_session_attrs=read-write", "postgres://u:xxxxx@h1:5432,h2:5433/db?target_session_attrs=read-write"},
		{"@ in a query", "postgres://db/x?application_name=a:b@c", "postgres://db/x?application_name=a:b@c"},
		{"postgres user alone is no secret", "postgres://layerq@db/x", "postgres://layerq@db/x"},
		{"nats user and password", "nats://u:pw-4@nats:4222", "nats://u:xxxxx@nats:4222"},
		{"nats token", "nats://tok-5@nats:4222", "nats://xxxxx@nats:4222"},
		{"tls scheme", "tls://u:pw-4@nats:4222", "tls://u:xxxxx@nats:4222"},
		{"nats list", "nats://u:pw-4@a:4222,nats://u:pw-6@b:4222", "nats://u:xxxxx@a:4222,nats://u:xxxxx@b:4222"},
		{"nats list with spaces", "nats://a:4222, nats://u:pw-4@b:4222", "nats://a:4222, nats://u:xxxxx@b:4222"},
		{"nats list without schemes", "u:pw-4@a:4222,b:4222", "u:xxxxx@a:4222,b:4222"},
		{"nats list, credentials on the second", "nats://a:4222,u:pw-4@b:4222", "nats://a:xxxxx@b:4222"},
		{"nats hosts alone", "nats://a:4222,nats://b:4222", "nats://a:4222,nats://b:4222"},
		{"token parameter", "https://host/path?x=1&access_token=tok-7", "https://host/path?x=1&access_token=xxxxx"},
		{"keyword/value", "host=db port=5432 user=u password=pw-8 dbname=x", "host=db port=5432 user=u password=xxxxx dbname=x"},
		{"keyword/value quoted", "host=db password='p w\\'8' dbname=x", "host=db password=xxxxx dbname=x"},
		{"keyword/value spaced", "host = db password = pw-8 sslmode=disable", "host = db password = xxxxx sslmode=disable"},
		{"keyword/value escaped space", `password=p\ w sslmode=disable`, "password=xxxxx sslmode=disable"},
		{"keyword/value sslpassword", "host=db sslpassword=pw-9", "host=db sslpassword=xxxxx"},
		{"keyword/value unterminated quote", "host=db password='pw-8 dbname=x", "host=db password=xxxxx"},
		{"keyword/value broken after a secret", "password=pw-8 host x=y", "password=xxxxx"},
		{"keyword/value without a secret", "host=db dbname=x", "host=db dbname=x"},
		{"plain host", "nats:4222", "nats:4222"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := redact.URL(c.in); got != c.want {
				t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

// The secrets come back as written and decoded, so that a message quoting
// either can be cleaned.
func TestSecrets(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want []string
	}{
		{"postgres://u:p%40ss@db/x?password=a+b%21", []string{"p%40ss", "p@ss", "a+b%21", "a b!", "a+b!"}},
		{"host=db password='it\\'s'", []string{"'it\\'s'", "it's"}},
		{"nats://tok@a:4222,nats://u:pw@b:4222", []string{"tok", "pw"}},
		{"postgres://u@db/x", nil},
	}
	for _, c := range cases {
		if got := redact.Secrets(c.in); !slices.Equal(got, c.want) {
			t.Errorf("Secrets(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	conn := "postgres://u:p%40ss-word@db/x?sslpassword=key-pass"
	cases := []struct{ in, want string }{
		{"cannot use " + conn + ": refused", "cannot use postgres://u:xxxxx@db/x?sslpassword=xxxxx: refused"},
		{`the password "p@ss-word" is wrong`, `the password "xxxxx" is wrong`},
		{"key-pass, p%40ss-word", "xxxxx, xxxxx"},
		{"nothing secret", "nothing secret"},
	}
	for _, c := range cases {
		if got := redact.Text(c.in, conn); got != c.want {
			t.Errorf("Text(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// A secret too short to look for is left (it would match everywhere),
	// but the connection string itself is still redacted.
	if got := redact.Text("a pw in postgres://u:pw@db", "postgres://u:pw@db"); got != "a pw in postgres://u:xxxxx@db" {
		t.Errorf("short secret: %q", got)
	}
}

// An error redacted keeps its chain for errors.Is and errors.As, and a
// walk to its root cause finds only redacted messages.
func TestError(t *testing.T) {
	t.Parallel()
	conn := "nats://layerq:s3cr3t-pw@nats:4222"
	inner := fmt.Errorf("dialing %s: %w", conn, context.DeadlineExceeded)
	var pathErr = &fs.PathError{Op: "open", Path: "/creds/s3cr3t-pw", Err: fs.ErrNotExist}
	err := redact.Error(fmt.Errorf("connecting: %w", errors.Join(inner, pathErr)), conn)
	if strings.Contains(err.Error(), "s3cr3t-pw") || !strings.Contains(err.Error(), "dialing nats://layerq:xxxxx@nats:4222") {
		t.Errorf("message: %q", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is lost the chain")
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe != pathErr {
		t.Errorf("errors.As lost the chain")
	}
	// Every error in the chain, as a walker reads them.
	var walk func(e error)
	n := 0
	walk = func(e error) {
		n++
		if strings.Contains(e.Error(), "s3cr3t-pw") {
			t.Errorf("a wrapped error shows the secret: %q", e)
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			if next := u.Unwrap(); next != nil {
				walk(next)
			}
		case interface{ Unwrap() []error }:
			for _, next := range u.Unwrap() {
				walk(next)
			}
		}
	}
	walk(err)
	if n < 5 {
		t.Errorf("walked %d errors, want the whole chain", n)
	}
	if redact.Error(nil, conn) != nil {
		t.Errorf("Error(nil) is not nil")
	}
}

// url.Parse quotes the URL and the piece it stumbled on, which can be a
// piece of the password: neither shows.
func TestErrorURLParse(t *testing.T) {
	t.Parallel()
	for _, conn := range []string{
		"nats://u:pw-10@127.0.0.1:notaport",
		"nats://u:pw/10x@nats:4222",
		"nats://u:pw%zz10@nats:4222",
		"postgres://u:pw-10@[::1/db",
	} {
		_, perr := url.Parse(conn)
		if perr == nil {
			t.Fatalf("%s parses", conn)
		}
		err := redact.Error(fmt.Errorf("connecting to NATS: %w", perr), conn)
		var walk func(e error)
		walk = func(e error) {
			for _, piece := range []string{"pw-10", "pw/10x", "pw%zz10", "%zz", "10x"} {
				if strings.Contains(e.Error(), piece) {
					t.Errorf("%s: %q shows %q", conn, e, piece)
				}
			}
			if u, ok := e.(interface{ Unwrap() []error }); ok {
				for _, next := range u.Unwrap() {
					walk(next)
				}
			}
		}
		walk(err)
		if !strings.HasPrefix(err.Error(), "connecting to NATS: parse ") {
			t.Errorf("%s: %q", conn, err)
		}
	}
}

// Whatever the password, properly escaped in each form, exactly it is
// masked and nothing else.
func FuzzURL(f *testing.F) {
	for _, s := range []string{"pw", "p@ss:w/rd?#&", "it's \\ quoted", "==", " ", "%zz", "a b", "tok,en"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pw string) {
		if pw == "" || strings.ContainsRune(pw, 0) {
			return
		}
		quoted := "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pw) + "'"
		forms := []struct{ in, want string }{
			{"postgres://" + url.UserPassword("u", pw).String() + "@db:5432/x?sslmode=disable", "postgres://u:xxxxx@db:5432/x?sslmode=disable"},
			{"postgres://u@db/x?password=" + url.QueryEscape(pw) + "&sslmode=disable", "postgres://u@db/x?password=xxxxx&sslmode=disable"},
			{"nats://" + url.UserPassword("u", pw).String() + "@a:4222,nats://" + url.UserPassword("u", pw).String() + "@b:4222", "nats://u:xxxxx@a:4222,nats://u:xxxxx@b:4222"},
			{"nats://" + url.User(pw).String() + "@a:4222", "nats://xxxxx@a:4222"},
			{"host=db password=" + quoted + " dbname=x", "host=db password=xxxxx dbname=x"},
		}
		for _, form := range forms {
			if got := redact.URL(form.in); got != form.want {
				t.Errorf("URL(%q) = %q, want %q", form.in, got, form.want)
			}
			if strings.Contains("using ", pw) {
				continue
			}
			if got := redact.Text("using "+form.in, form.in); got != "using "+form.want {
				t.Errorf("Text of %q = %q", form.in, got)
			}
		}
	})
}
