package clierr

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// NoArgs is action, for a command that takes no positional arguments:
// given some, the command fails with "NAME takes no arguments (got [...])",
// followed by ": hint" when hint is set.
func NoArgs(hint string, action cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() > 0 {
			if hint != "" {
				return fmt.Errorf("%s takes no arguments (got %q): %s", c.Command.Name, c.Args().Slice(), hint)
			}
			return fmt.Errorf("%s takes no arguments (got %q)", c.Command.Name, c.Args().Slice())
		}
		return action(c)
	}
}

// OneArg is action, for a command that takes one positional argument,
// what ("reference, like library/debian:12"): given none or more, the
// command fails with "NAME takes one WHAT (got N arguments: [...])".
func OneArg(what string, action cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() != 1 {
			return fmt.Errorf("%s takes one %s (got %d arguments: %q)", c.Command.Name, what, c.NArg(), c.Args().Slice())
		}
		return action(c)
	}
}
