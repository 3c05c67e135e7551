// Package clierr makes layerq's command-line mistakes one line each: a bad
// flag, an unknown command or a missing argument says what was wrong and how
// to get help, instead of printing the whole usage.
package clierr

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"
)

// Run runs app with args. Usage errors of the app and of every command come
// back as one-line errors; so does an unknown command.
func Run(ctx context.Context, app *cli.App, args []string) error {
	var notFound error
	app.OnUsageError = usageError
	app.CommandNotFound = func(c *cli.Context, name string) {
		notFound = fmt.Errorf("unknown command %q (see %s --help)", name, app.Name)
	}
	setUsageErrors(app.Commands)
	if err := app.RunContext(ctx, args); err != nil {
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

func usageError(c *cli.Context, err error, _ bool) error {
	return fmt.Errorf("%v (see %s --help)", err, c.Command.HelpName)
}
