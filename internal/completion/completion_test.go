package completion_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The real binaries complete their subcommands and flags in a real bash.
func TestBashCompletion(t *testing.T) {
	bin := t.TempDir()
	for _, pkg := range []string{"cmd/query", "cmd/ingest"} {
		name := map[string]string{"cmd/query": "layerq", "cmd/ingest": "layerq-ingest"}[pkg]
		if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, name), "github.com/layerq/layerq/"+pkg).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", name, err, out)
		}
	}
	complete := func(prog string, words ...string) []string {
		t.Helper()
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + w + "'"
		}
		script := `source <(` + prog + ` completion bash) || exit 1
COMP_WORDS=(` + prog + ` ` + strings.Join(quoted, " ") + `); COMP_CWORD=` + itoa(len(words)) + `
_` + strings.ReplaceAll(prog, "-", "_") + `_complete
printf '%s\n' "${COMPREPLY[@]}"`
		cmd := exec.Command("bash", "-c", script)
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.Fields(string(out))
	}
	for _, c := range []struct {
		prog  string
		words []string
		want  string
	}{
		{"layerq", []string{"to"}, "top-shared"},
		{"layerq", []string{"st"}, "storage"},
		{"layerq", []string{"cache", "--li"}, "--limit"},
		{"layerq", []string{"bloat", "--min"}, "--min-bytes"},
		{"layerq-ingest", []string{"se"}, "serve"},
		{"layerq-ingest", []string{"serve", "--webhook-t"}, "--webhook-token"},
	} {
		got := complete(c.prog, c.words...)
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("%s %s<TAB> = %q, want %q", c.prog, strings.Join(c.words, " "), got, c.want)
		}
	}
	// Every subcommand is offered on an empty word.
	all := strings.Join(complete("layerq", ""), " ")
	for _, cmd := range []string{"top-shared", "image", "bloat", "duplicates", "cache", "bases", "storage", "completion"} {
		if !strings.Contains(all, cmd) {
			t.Errorf("layerq <TAB> = %q, lacks %s", all, cmd)
		}
	}
	out, err := exec.Command(filepath.Join(bin, "layerq"), "completion", "tcsh").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "completion needs a shell: bash, zsh or fish") {
		t.Errorf("completion tcsh: %v %s", err, out)
	}
	fish, err := exec.Command(filepath.Join(bin, "layerq"), "completion", "fish").Output()
	if err != nil || !strings.Contains(string(fish), "complete -c layerq") || !strings.Contains(string(fish), "top-shared") {
		t.Errorf("fish completion: %v\n%s", err, fish)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
