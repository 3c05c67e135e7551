package main

import (
	"github.com/urfave/cli/v2"
)

func repoFlag() cli.Flag {
	return &cli.StringFlag{Name: "repo", Value: "**", Usage: "only repositories matching `GLOB` (* within a path segment, ** across)"}
}
