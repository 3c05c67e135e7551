// Package clierr makes layerq's command-line mistakes one line each: a bad
// flag, an unknown command or a missing argument says what was wrong and how
// to get help, instead of printing the whole usage. A mistyped command or
// flag name is answered with the name it most likely meant. Flags may be
// typed after a command's arguments, and the program's flags after the
// command's name.
package clierr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/xrash/smetrics"
)

// Run runs app with args. Usage errors of the app and of every command come
// back as one-line errors; so does an unknown command. Flags may follow a
// command's positional arguments, and a flag of the app or of a parent
// command may follow the name of the command that runs (see inOrder).
func Run(ctx context.Context, app *cli.App, args []string) error {
	var notFound error
	app.OnUsageError = usageError
	app.CommandNotFound = func(c *cli.Context, name string) {
		notFound = unknownCommand(c, name)
	}
	setUsageErrors(app.Commands)
	if err := app.RunContext(ctx, inOrder(app, args)); err != nil {
		return err
	}
	return notFound
}

func setUsageErrors(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = usageError
		setUsageErrors(c.Subcommands)
	}
}

// unknownCommand is the error for name, which is none of the commands c
// runs.
func unknownCommand(c *cli.Context, name string) error {
	cmds, help := c.App.Commands, c.App.Name
	if c.Command != nil && c.Command.Subcommands != nil {
		cmds = c.Command.Subcommands
		if len(c.Lineage()) > 1 && c.Command.HelpName != "" {
			help = c.Command.HelpName
		}
	}
	var names []string
	for _, cmd := range cmds {
		if !cmd.Hidden {
			names = append(names, cmd.Names()...)
		}
	}
	if s := closest(name, names); s != "" {
		return fmt.Errorf("unknown command %q: did you mean %q? (see %s --help)", name, s, help)
	}
	return fmt.Errorf("unknown command %q (see %s --help)", name, help)
}

// undefinedFlag is how Go's flag package says a flag is not defined; the
// name follows, after one dash however many were typed.
const undefinedFlag = "flag provided but not defined: -"

// invalidValue is how Go's flag package says a flag's value did not parse:
// the value, the flag's name and the error of the value follow.
const invalidValue = "invalid value "

func usageError(c *cli.Context, err error, _ bool) error {
	if msg, ok := selfDescribed(err.Error()); ok {
		return errors.New(msg)
	}
	if msg, ok := badValue(c, err.Error()); ok {
		return fmt.Errorf("%s (see %s --help)", msg, c.Command.HelpName)
	}
	if name, ok := strings.CutPrefix(err.Error(), undefinedFlag); ok {
		if s := closest(name, flagNames(c)); s != "" {
			return fmt.Errorf("%v; did you mean %q? (see %s --help)", err, dashed(s), c.Command.HelpName)
		}
	}
	return fmt.Errorf("%v (see %s --help)", err, c.Command.HelpName)
}

// invalid splits Go's "invalid value "ten" for flag -limit: parse error"
// into the value as quoted, the flag's name and the value's own error.
func invalid(msg string) (value, name, inner string, ok bool) {
	rest, ok := strings.CutPrefix(msg, invalidValue)
	if !ok {
		return "", "", "", false
	}
	value, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return "", "", "", false
	}
	if rest, ok = strings.CutPrefix(rest[len(value):], " for flag -"); !ok {
		return "", "", "", false
	}
	name, inner, ok = strings.Cut(rest, ": ")
	return value, name, inner, ok
}

// selfDescribed is the error of a flag's value (as clibytes gives) when it
// already says which flag and which value, like `--fail-over "10 zebras":
// give bytes like …`: then Go's wrapping of it, which would say both again,
// is left out.
func selfDescribed(msg string) (string, bool) {
	value, name, inner, ok := invalid(msg)
	if !ok || !strings.HasPrefix(inner, "--"+name+" "+value+":") {
		return "", false
	}
	return inner, true
}

// badValue says what a flag of c's command takes, for Go's plain "invalid
// value "ten" for flag -limit: parse error": `--limit "ten": give a whole
// number`.
func badValue(c *cli.Context, msg string) (string, bool) {
	value, name, inner, ok := invalid(msg)
	if !ok {
		return "", false
	}
	inRange := ""
	if strings.Contains(inner, "out of range") {
		inRange = " (this one is out of range)"
	}
	for _, f := range c.Command.Flags {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		var want string
		switch f.(type) {
		case *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag:
			want = "a whole number"
		case *cli.Float64Flag:
			want = "a number, like 0.9"
		case *cli.DurationFlag:
			want = "a duration, like 10m or 36h"
		case *cli.BoolFlag:
			want = "true or false"
		default:
			return "", false
		}
		return fmt.Sprintf("%s %s: give %s%s", dashed(name), value, want, inRange), true
	}
	return "", false
}

// flagNames are the names of the visible flags c's command takes, help
// included.
func flagNames(c *cli.Context) []string {
	var names []string
	flags := c.Command.Flags
	if !c.Command.HideHelp && cli.HelpFlag != nil {
		flags = append(flags[:len(flags):len(flags)], cli.HelpFlag)
	}
	for _, f := range flags {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		names = append(names, f.Names()...)
	}
	return names
}

// dashed is a flag name as typed: -o, --output.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// closest is the one of names that typed most likely misspells: the nearest
// by edit distance (insertions, deletions and substitutions) when it is
// near enough for typed's length (one edit in a word of up to three
// letters, one more per four letters: two letters swapped are two edits),
// else the only name that typed begins, else "". Ties go to the name listed
// first.
func closest(typed string, names []string) string {
	best, bestEdits := "", maxEdits(typed)+1
	for _, n := range names {
		if d := smetrics.WagnerFischer(typed, n, 1, 1, 1); d < bestEdits {
			best, bestEdits = n, d
		}
	}
	if best != "" || len(typed) < 2 {
		return best
	}
	for _, n := range names {
		if strings.HasPrefix(n, typed) {
			if best != "" && best != n {
				return ""
			}
			best = n
		}
	}
	return best
}

// maxEdits is how many edits typed may be away from a name it misspells.
func maxEdits(typed string) int {
	if len(typed) == 1 {
		return 0 // any one letter is one edit from any other: -o is not -h
	}
	return 1 + len(typed)/4
}
