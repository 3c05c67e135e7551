// Package completion gives a urfave/cli program shell completion: a
// `completion bash|zsh|fish` command that prints the script to source, and
// the hidden --generate-bash-completion flag the bash and zsh scripts call
// to ask the program itself for the words that fit.
package completion

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// bash asks the program for the candidates of the word being completed:
// subcommands, or flags when the word starts with "-".
const bash = `# bash completion for PROG: source <(PROG completion bash)
_PROG_complete() {
	local cur words
	COMPREPLY=()
	cur="${COMP_WORDS[COMP_CWORD]}"
	if [[ "$cur" == -* ]]; then
		words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
	else
		words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
	fi
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o bashdefault -o default -F _PROG_complete PROG
`

// Enable turns completion on for app and adds the completion command.
func Enable(app *cli.App) {
	app.EnableBashCompletion = true
	app.Commands = append(app.Commands, command(app))
}

func command(app *cli.App) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: fmt.Sprintf(`bash: source <(%[1]s completion bash), or save it in /etc/bash_completion.d/%[1]s
zsh:  source <(%[1]s completion zsh) in ~/.zshrc
fish: %[1]s completion fish > ~/.config/fish/completions/%[1]s.fish`, app.Name),
		Action: func(c *cli.Context) error {
			script, err := Script(app, c.Args().First())
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(c.App.Writer, script)
			return err
		},
	}
}

// Script returns the completion script of app for shell.
func Script(app *cli.App, shell string) (string, error) {
	prog := app.Name
	fn := strings.NewReplacer("-", "_").Replace(prog)
	bashScript := strings.NewReplacer("_PROG_", "_"+fn+"_", "PROG", prog).Replace(bash)
	switch shell {
	case "bash":
		return bashScript, nil
	case "zsh":
		// zsh runs the bash script through its bash completion layer.
		return "# zsh completion for " + prog + ": source <(" + prog + " completion zsh)\n" +
			"autoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n" + bashScript, nil
	case "fish":
		return app.ToFishCompletion()
	}
	return "", fmt.Errorf("completion needs a shell: bash, zsh or fish, not %q", shell)
}
