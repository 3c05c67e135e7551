// Package clidoc checks a command line against its documentation: every
// flag and environment variable of a urfave/cli program must be named in
// the document (the README's configuration reference), so neither can be
// added without saying what it does.
package clidoc

import (
	"regexp"

	"github.com/urfave/cli/v2"
)

// Missing lists the flags (--name) and environment variables (NAME) of app
// and its commands that doc does not name.
func Missing(app *cli.App, doc string) []string {
	names := func(s string) bool {
		return regexp.MustCompile(`(^|[^A-Za-z0-9_-])` + regexp.QuoteMeta(s) + `($|[^A-Za-z0-9_-])`).MatchString(doc)
	}
	var missing []string
	check := func(where string, flags []cli.Flag) {
		for _, f := range flags {
			for _, name := range f.Names() {
				if len(name) > 1 && !names("--"+name) {
					missing = append(missing, where+" --"+name)
				}
			}
			if ev, ok := f.(interface{ GetEnvVars() []string }); ok {
				for _, e := range ev.GetEnvVars() {
					if !names(e) {
						missing = append(missing, where+" $"+e)
					}
				}
			}
		}
	}
	check(app.Name, app.Flags)
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			check(prefix+" "+c.Name, c.Flags)
			walk(prefix+" "+c.Name, c.Subcommands)
		}
	}
	walk(app.Name, app.Commands)
	return missing
}
