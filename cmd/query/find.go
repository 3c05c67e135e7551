package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
)

func findCommand() *cli.Command {
	return &cli.Command{
		Name:  "find",
		Usage: "which live images hold a layer, a file by path, or the same content as a file of another image",
		Description: `Lists the live images holding what is asked, one line per image, layer
and file: repository, tags, platform, the layer's position and the step
that made it, and for a file whether the image's final filesystem still
shows it (or a later layer removed it, or wrote the path again).

  --layer DIGEST     a layer, by its blob digest or its diff_id (any
                     compression of it)
  --path GLOB        regular files by path: * within a segment, ** across;
                     a glob without / is a file name at any depth
                     ('log4j-core-*.jar'), one starting with / a path from
                     the top. The paths of the file indexes are searched
                     by name: a name with a literal start or end (log4j-*,
                     *.pem) is read from an index, one with neither
                     (*core*) reads every distinct path
  --same-as REF:/PATH  files with the same content as the file the image
                     REF shows at PATH (--platform picks the image of an
                     index)

File searches read the file indexes (layerq-ingest scan --layers); the
report says how many live layers have none.

Examples:
   layerq find --path '**/log4j-core-*.jar'
   layerq find --layer sha256:4a5825b042d0b78d67ef4c7d03676d2ce7a38e3add8a6c3a4741b85d42a5c569
   layerq find --same-as team-a/api:1.3:/app/config.yaml --repo 'team-*/**'`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "layer", Usage: "a layer's blob digest or diff_id (`DIGEST`)"},
			&cli.StringFlag{Name: "path", Usage: "regular files whose path matches `GLOB`"},
			&cli.StringFlag{Name: "same-as", Usage: "files with the content of the file an image shows at a path: `REF:/PATH`"},
			platformFlag("for --same-as of an index, the `OS/ARCH[/VARIANT]`"),
			repoFlag(),
			&cli.IntFlag{Name: "limit", Value: 50, Usage: "list the first `N` matches (0: all; the counts cover every one)"},
		}, outputFlags()...),
		Action: clierr.NoArgs("say what to find with --layer, --path or --same-as, a glob in quotes (--path '**/*.jar': the shell turns one unquoted into the file names it matches here)", func(c *cli.Context) error {
			opts := report.FindOptions{Repositories: repoglob.Compile(c.String("repo")), Limit: c.Int("limit"), Platform: platform(c)}
			given := 0
			for _, f := range []string{"layer", "path", "same-as"} {
				if c.String(f) != "" {
					given++
				}
			}
			if given != 1 {
				return fmt.Errorf("find takes one of --layer DIGEST, --path GLOB or --same-as REF:/PATH (got %d)", given)
			}
			if opts.Limit < 0 {
				return fmt.Errorf("--limit %d: give 0 (all) or more", opts.Limit)
			}
			switch {
			case c.String("layer") != "":
				l, err := report.ParseLayer(c.String("layer"))
				if err != nil {
					return err
				}
				opts.Layer = l
			case c.String("path") != "":
				opts.Path = c.String("path")
			default:
				s := c.String("same-as")
				ref, path, ok := strings.Cut(s, ":/")
				if !ok || ref == "" || path == "" {
					return fmt.Errorf("--same-as %q: give an image and a path in it, like team-a/api:1.3:/app/config.yaml", s)
				}
				r, err := report.ParseRef(ref)
				if err != nil {
					return err
				}
				opts.SameAs, opts.SamePath = &r, path
			}
			return run(c, folded(c, func(db *database.Pool) (output.Table, error) {
				return report.LoadFind(c.Context, db, opts)
			}))
		}),
	}
}
