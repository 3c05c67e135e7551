package main

import (
	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/report"
)

func repoFlag() cli.Flag {
	return &cli.StringFlag{Name: "repo", Value: "**", Usage: "only repositories matching `GLOB` (* within a path segment, ** across)"}
}

// platformFlag picks the image of an index; usage says for what.
func platformFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: "platform", Value: report.DefaultPlatform, Usage: usage}
}

// platform is the --platform the user gave, or "" for the default: given,
// it must also be the platform of an image that is not an index.
func platform(c *cli.Context) string {
	if !c.IsSet("platform") {
		return ""
	}
	return c.String("platform")
}
