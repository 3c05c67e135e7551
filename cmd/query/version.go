package main

import (
	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/buildinfo"
	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/output"
)

// versionCommand prints what this binary is (as --version does): one line,
// or JSON. It needs no database.
func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version, the VCS revision and time it was built from, and the Go version",
		Flags: []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "`FORMAT`: table (one line) or json"}},
		Action: clierr.NoArgs("", func(c *cli.Context) error {
			format, err := output.ParseFormat(innermost(c, "output").String("output"))
			if err != nil {
				return err
			}
			return buildinfo.Read().Print(c.App.Writer, c.App.Name, format == output.JSONFormat)
		}),
	}
}
