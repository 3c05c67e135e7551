package clierr

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// seen is what the command that ran was given.
type seen struct {
	command     string
	args        []string
	databaseURL string
	output      string
	platform    string
	all         bool
	registries  []string
}

// orderApp is a command tree shaped like layerq's and layerq-ingest's:
// global flags, reports taking the output flags again, and a command with
// subcommands taking IDs. Each action records what it was given in got.
func orderApp(got *seen) *cli.App {
	action := func(c *cli.Context) error {
		*got = seen{
			command:     c.Command.Name,
			args:        c.Args().Slice(),
			databaseURL: c.String("database-url"),
			platform:    c.String("platform"),
			all:         c.Bool("all"),
			registries:  c.StringSlice("registry"),
		}
		for _, x := range c.Lineage() {
			if x.IsSet("output") {
				got.output = x.String("output")
				break
			}
		}
		return nil
	}
	outputFlags := func() []cli.Flag {
		return []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table"}, &cli.BoolFlag{Name: "no-trunc"}}
	}
	var out bytes.Buffer
	return &cli.App{
		Name:      "layerq",
		Writer:    &out,
		ErrWriter: &out,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "database-url"},
			&cli.StringFlag{Name: "data-dir"},
		}, outputFlags()...),
		Commands: []*cli.Command{
			{Name: "image", Action: action, Flags: append([]cli.Flag{&cli.StringFlag{Name: "platform"}}, outputFlags()...)},
			{Name: "bloat", Action: action, Flags: append([]cli.Flag{&cli.Int64Flag{Name: "min-bytes"}, &cli.GenericFlag{Name: "fail-over", Value: &size{}}}, outputFlags()...)},
			{Name: "quarantine", Subcommands: []*cli.Command{
				{Name: "show", Action: action},
				{Name: "replay", Action: action, Flags: []cli.Flag{&cli.BoolFlag{Name: "all"}, &cli.StringSliceFlag{Name: "registry"}}},
			}},
		},
		EnableBashCompletion: true,
		HideHelpCommand:      true,
	}
}

// size is a flag value whose error names the flag and the value, as
// clibytes's do.
type size struct{ s string }

func (v *size) String() string { return v.s }
func (v *size) Set(s string) error {
	if !strings.HasSuffix(s, "MB") {
		return errors.New(`--fail-over "` + s + `": give bytes like 50MB`)
	}
	v.s = s
	return nil
}

func TestInOrder(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		// Flags after the positional argument, with their values.
		{"image x:1 -o json --platform linux/arm64", "image -o json --platform linux/arm64 x:1"},
		{"image x:1 --no-trunc -o=json", "image --no-trunc -o=json x:1"},
		// A global flag after the command's name goes to the program;
		// typed twice, the later stays later, and wins.
		{"image x:1 --database-url u", "--database-url u image x:1"},
		{"--database-url a image x:1 --database-url b --data-dir d", "--database-url a --database-url b --data-dir d image x:1"},
		// The output flags, which the command defines too, stay with it.
		{"-o csv image x:1 -o json", "-o csv image -o json x:1"},
		// After --, all is positional.
		{"image -o json -- -x", "image -o json -- -x"},
		{"image x:1 -- -o json", "image -- x:1 -o json"},
		// A value that starts with a dash is the flag's.
		{"bloat --min-bytes -1", "bloat --min-bytes -1"},
		{"bloat x --min-bytes -1", "bloat --min-bytes -1 x"},
		// Subcommands: IDs last; a global flag goes to the program.
		{"quarantine show abc --database-url u", "--database-url u quarantine show abc"},
		{"quarantine replay a b --all --registry r1 --registry r2", "quarantine replay --all --registry r1 --registry r2 a b"},
		// A flag none defines stays with the command, whose parser refuses it.
		{"image x:1 --zzz", "image --zzz x:1"},
		// help after the arguments.
		{"image x:1 --help", "image --help x:1"},
		{"image x:1 -h", "image -h x:1"},
		// A value missing at the end: what the flag's command would read,
		// up to it.
		{"image x:1 -o", "image -o"},
		{"image x:1 --database-url", "--database-url"},
		// As typed: nothing to move, an unknown command, an unknown flag
		// before the command that runs, a subcommand missing, completion.
		{"-o json image x:1", "-o json image x:1"},
		{"imgae x:1 -o json", "imgae x:1 -o json"},
		{"--databse-url x image y -o json", "--databse-url x image y -o json"},
		{"quarantine --zzz show a", "quarantine --zzz show a"},
		{"quarantine lst a -o json", "quarantine lst a -o json"},
		{"image x:1 --pl --generate-bash-completion", "image x:1 --pl --generate-bash-completion"},
		{"", ""},
	}
	for _, c := range cases {
		in := append([]string{"layerq"}, strings.Fields(c.in)...)
		want := append([]string{"layerq"}, strings.Fields(c.want)...)
		if got := inOrder(orderApp(new(seen)), in); !slices.Equal(got, want) {
			t.Errorf("inOrder(%q) = %q, want %q", in, got, want)
		}
	}
}

// The tests that run apps run one at a time: urfave/cli shares its help
// flag between apps, and parsing it is not safe in parallel.
func TestFlagsWhereTyped(t *testing.T) {
	run := func(args ...string) (seen, error) {
		var got seen
		err := Run(context.Background(), orderApp(&got), append([]string{"layerq"}, args...))
		return got, err
	}
	want := seen{command: "image", args: []string{"team/app:1"}, databaseURL: "postgres://db", output: "json", platform: "linux/arm64"}
	for _, args := range [][]string{
		{"--database-url", "postgres://db", "-o", "json", "image", "--platform", "linux/arm64", "team/app:1"},
		{"image", "team/app:1", "-o", "json", "--platform", "linux/arm64", "--database-url", "postgres://db"},
		{"image", "--database-url=postgres://db", "team/app:1", "--platform=linux/arm64", "--output", "json"},
	} {
		got, err := run(args...)
		if err != nil || !equal(got, want) {
			t.Errorf("%q: %+v, %v; want %+v", args, got, err, want)
		}
	}
	got, err := run("quarantine", "replay", "id1", "id2", "--registry", "r", "--all", "--database-url", "postgres://db")
	if want := (seen{command: "replay", args: []string{"id1", "id2"}, databaseURL: "postgres://db", all: true, registries: []string{"r"}}); err != nil || !equal(got, want) {
		t.Errorf("quarantine replay: %+v, %v; want %+v", got, err, want)
	}
	// -- keeps what follows positional, flag-like or not.
	got, err = run("image", "-o", "json", "--", "-x", "--platform")
	if want := (seen{command: "image", args: []string{"-x", "--platform"}, output: "json"}); err != nil || !equal(got, want) {
		t.Errorf("image -- -x: %+v, %v; want %+v", got, err, want)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		// A mistake after the positional argument is one line, as before it.
		{[]string{"image", "x:1", "--zzz"}, "flag provided but not defined: -zzz (see layerq image --help)"},
		{[]string{"image", "x:1", "--platfrom", "linux/arm64"}, `flag provided but not defined: -platfrom; did you mean "--platform"? (see layerq image --help)`},
		{[]string{"image", "x:1", "-o"}, "flag needs an argument: -o (see layerq image --help)"},
		{[]string{"image", "x:1", "--database-url"}, "flag needs an argument: -database-url (see layerq --help)"},
		// A value whose error says which flag and value: said once.
		{[]string{"bloat", "--fail-over", "10 zebras"}, `--fail-over "10 zebras": give bytes like 50MB`},
		{[]string{"bloat", "--min-bytes", "ten"}, `--min-bytes "ten": give a whole number (see layerq bloat --help)`},
	} {
		_, err := run(c.args...)
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: err = %v\nwant %s", c.args, err, c.want)
		}
	}
}

func equal(a, b seen) bool {
	return a.command == b.command && slices.Equal(a.args, b.args) && a.databaseURL == b.databaseURL && a.output == b.output &&
		a.platform == b.platform && a.all == b.all && slices.Equal(a.registries, b.registries)
}

func TestNoArgsAndOneArg(t *testing.T) {
	ran := false
	action := func(*cli.Context) error { ran = true; return nil }
	app := &cli.App{
		Name: "layerq",
		Commands: []*cli.Command{
			{Name: "storage", Action: NoArgs("", action)},
			{Name: "bloat", Action: NoArgs("give an image with --image REF", action), Flags: []cli.Flag{&cli.StringFlag{Name: "image"}}},
			{Name: "image", Action: OneArg("reference, like library/debian:12", action)},
		},
		HideHelpCommand: true,
	}
	for _, c := range []struct {
		args []string
		want string // "": runs the action
	}{
		{[]string{"storage"}, ""},
		{[]string{"storage", "team/app"}, `storage takes no arguments (got ["team/app"])`},
		{[]string{"bloat", "--image", "a:1"}, ""},
		{[]string{"bloat", "a:1", "b"}, `bloat takes no arguments (got ["a:1" "b"]): give an image with --image REF`},
		{[]string{"image", "a:1"}, ""},
		{[]string{"image"}, `image takes one reference, like library/debian:12 (got 0 arguments: [])`},
		{[]string{"image", "a:1", "b:2"}, `image takes one reference, like library/debian:12 (got 2 arguments: ["a:1" "b:2"])`},
	} {
		ran = false
		err := Run(context.Background(), app, append([]string{"layerq"}, c.args...))
		switch {
		case c.want == "" && (err != nil || !ran):
			t.Errorf("%q: ran %v, %v; want it run", c.args, ran, err)
		case c.want != "" && (err == nil || err.Error() != c.want || ran):
			t.Errorf("%q: ran %v, err = %v; want %s", c.args, ran, err, c.want)
		}
	}
}
