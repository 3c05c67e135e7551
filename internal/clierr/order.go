package clierr

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// inOrder is args put in the order urfave/cli reads, so that flags may be
// typed where users type them: after a command's positional arguments
// (layerq image team/app:1 -o json), and global flags after the command's
// name (layerq image team/app:1 --database-url URL). Each flag moves, with
// its value, to the innermost command on the line that defines it, before
// that command's positional arguments; a flag no command defines stays with
// the last command, whose parser then says so. After "--" every argument is
// positional, and stays so. A command line urfave/cli would not read as
// commands and flags (an unknown command, an unknown flag before the last
// command's name, shell completion) is returned as it is, to fail or
// complete as before.
func inOrder(app *cli.App, args []string) []string {
	if len(args) < 2 || completing(app, args) {
		return args
	}
	line := []*level{{name: args[0], defines: flagsOf(app.Flags, !app.HideHelp)}}
	cmds := app.Commands
	var positional []string
	terminated := false
	for i := 1; i < len(args); i++ {
		a := args[i]
		last := len(cmds) == 0 // no subcommands: the command that runs
		switch {
		case terminated:
			positional = append(positional, a)
		case a == "--":
			if !last {
				return args
			}
			terminated = true
		case len(a) > 1 && a[0] == '-':
			name, withValue := flagName(a)
			at, takesValue := definer(line, name)
			if at < 0 {
				if !last {
					return args
				}
				at = len(line) - 1
			}
			if takesValue && !withValue {
				if i+1 == len(args) {
					// Its value is missing: the parser of the command
					// defining it says so, and what follows does not matter.
					return append(join(line[:at+1]), a)
				}
				line[at].typed = append(line[at].typed, a)
				i++
				a = args[i]
			}
			line[at].typed = append(line[at].typed, a)
		case !last:
			cmd := command(cmds, a)
			if cmd == nil || cmd.SkipFlagParsing {
				return args
			}
			line = append(line, &level{name: a, defines: flagsOf(cmd.Flags, !cmd.HideHelp)})
			cmds = cmd.Subcommands
		default:
			positional = append(positional, a)
		}
	}
	out := join(line)
	if terminated {
		out = append(out, "--")
	}
	return append(out, positional...)
}

// level is the program or one of its commands on a command line.
type level struct {
	name string
	// defines maps the names of the flags it defines to whether each takes
	// a value.
	defines map[string]bool
	// typed are the flags given to it, with their values, in the order
	// typed.
	typed []string
}

// join is each level's name followed by its flags.
func join(line []*level) []string {
	var out []string
	for _, l := range line {
		out = append(out, l.name)
		out = append(out, l.typed...)
	}
	return out
}

// definer is the index in line of the innermost level defining the flag
// name, -1 when none does, and whether the flag takes a value.
func definer(line []*level, name string) (int, bool) {
	for i, l := range slices.Backward(line) {
		if takesValue, ok := l.defines[name]; ok {
			return i, takesValue
		}
	}
	return -1, false
}

// flagName is the name of the flag typed as a (-o, --output=json), and
// whether a holds its value too.
func flagName(a string) (name string, withValue bool) {
	name = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	name, _, withValue = strings.Cut(name, "=")
	return name, withValue
}

// flagsOf maps the names of flags, and of the help flag with help, to
// whether each takes a value (all but boolean flags do).
func flagsOf(flags []cli.Flag, help bool) map[string]bool {
	if help && cli.HelpFlag != nil {
		flags = append(flags[:len(flags):len(flags)], cli.HelpFlag)
	}
	m := make(map[string]bool)
	for _, f := range flags {
		takesValue := true
		if d, ok := f.(cli.DocGenerationFlag); ok {
			takesValue = d.TakesValue()
		}
		for _, n := range f.Names() {
			m[n] = takesValue
		}
	}
	return m
}

// command is the one of cmds named name (or aliased so), or nil.
func command(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// completing says whether args ask app for shell completion candidates,
// which urfave/cli reads from the line as typed.
func completing(app *cli.App, args []string) bool {
	if !app.EnableBashCompletion || cli.BashCompletionFlag == nil {
		return false
	}
	names := cli.BashCompletionFlag.Names()
	return len(names) > 0 && args[len(args)-1] == "--"+names[0]
}
