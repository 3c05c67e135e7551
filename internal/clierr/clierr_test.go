package clierr

import (
	"bytes"
	"context"
	"testing"

	"github.com/urfave/cli/v2"
)

// app is a command tree shaped like layerq's: reports with flags, and a
// command with subcommands.
func app(out *bytes.Buffer) *cli.App {
	report := func(name string, flags ...cli.Flag) *cli.Command {
		return &cli.Command{Name: name, Flags: flags, Action: func(*cli.Context) error { return nil }}
	}
	limit := &cli.IntFlag{Name: "limit", Value: 20}
	output := &cli.StringFlag{Name: "output", Aliases: []string{"o"}}
	return &cli.App{
		Name:      "layerq",
		Writer:    out,
		ErrWriter: out,
		Flags:     []cli.Flag{&cli.StringFlag{Name: "database-url"}, &cli.StringFlag{Name: "secret-knob", Hidden: true}},
		Commands: []*cli.Command{
			report("top-shared", limit, output, &cli.StringFlag{Name: "repo"}),
			report("image", output, &cli.StringFlag{Name: "platform"}),
			report("bloat", output),
			report("duplicates", output),
			report("storage", output),
			report("bases", output),
			report("cache", output),
			{Name: "debug-dump", Hidden: true, Action: func(*cli.Context) error { return nil }},
			{Name: "quarantine", Subcommands: []*cli.Command{report("list"), report("show"), report("replay"), report("drop")}},
		},
		HideHelpCommand: true,
	}
}

// The tests run the apps one at a time: urfave/cli shares its help flag
// between apps, and parsing it is not safe in parallel.
func TestDidYouMean(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		// One edit away.
		{[]string{"top-shard"}, `unknown command "top-shard": did you mean "top-shared"? (see layerq --help)`},
		// Two letters swapped: two edits, near enough for five letters.
		{[]string{"imgae", "x:1"}, `unknown command "imgae": did you mean "image"? (see layerq --help)`},
		// Near nothing, but the start of one command only.
		{[]string{"dup"}, `unknown command "dup": did you mean "duplicates"? (see layerq --help)`},
		// The start of two commands (bloat, bases): no guess.
		{[]string{"b"}, `unknown command "b" (see layerq --help)`},
		// Far from every command.
		{[]string{"dedupe"}, `unknown command "dedupe" (see layerq --help)`},
		// A hidden command is never suggested.
		{[]string{"debug-dum"}, `unknown command "debug-dum" (see layerq --help)`},
		{[]string{"quarantine", "lst"}, `unknown command "lst": did you mean "list"? (see layerq quarantine --help)`},
		// Flags, after the command and before it.
		{[]string{"top-shared", "--limt", "3"}, `flag provided but not defined: -limt; did you mean "--limit"? (see layerq top-shared --help)`},
		{[]string{"image", "--ouptut", "json", "x:1"}, `flag provided but not defined: -ouptut; did you mean "--output"? (see layerq image --help)`},
		{[]string{"top-shared", "--hlep"}, `flag provided but not defined: -hlep; did you mean "--help"? (see layerq top-shared --help)`},
		{[]string{"top-shared", "--zzz"}, `flag provided but not defined: -zzz (see layerq top-shared --help)`},
		{[]string{"quarantine", "drop", "-o", "x"}, `flag provided but not defined: -o (see layerq quarantine drop --help)`}, // not -h: one letter is one edit from any
		{[]string{"--databse-url", "x", "bases"}, `flag provided but not defined: -databse-url; did you mean "--database-url"? (see layerq --help)`},
		{[]string{"--secret-knb", "x", "bases"}, `flag provided but not defined: -secret-knb (see layerq --help)`},
		// Not a usage error: as before.
		{[]string{"top-shared", "--limit", "ten"}, `--limit "ten": give a whole number (see layerq top-shared --help)`},
	}
	for _, c := range cases {
		var out bytes.Buffer
		err := Run(context.Background(), app(&out), append([]string{"layerq"}, c.args...))
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: err = %v\nwant %s", c.args, err, c.want)
		}
		if out.Len() > 0 {
			t.Errorf("%q printed %q; want nothing but the error", c.args, out.String())
		}
	}
}

func TestClosest(t *testing.T) {
	t.Parallel()
	names := []string{"top-shared", "image", "bloat", "duplicates", "storage", "bases", "cache"}
	cases := []struct{ typed, want string }{
		{"top-shard", "top-shared"},
		{"cahce", "cache"}, // two letters swapped: two edits
		{"imag", "image"},  // one edit in four letters
		{"imgs", "image"},  // two edits in four letters
		{"bse", ""},        // two edits in three letters: too far
		{"xyzw", ""},
		{"stor", "storage"}, // too far, but the start of storage
		{"ba", "bases"},     // the start of bases only (bloat is not ba…)
		{"c", ""},           // one letter: never a guess by its start
		{"", ""},
	}
	for _, c := range cases {
		if got := closest(c.typed, names); got != c.want {
			t.Errorf("closest(%q) = %q, want %q", c.typed, got, c.want)
		}
	}
}
