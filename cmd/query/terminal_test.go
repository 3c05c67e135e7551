package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/creack/pty"

	"github.com/layerq/layerq/internal/clierr"
)

// runOnTerminal runs the command line with its output on a pseudo-terminal
// cols columns wide, as a user at a terminal sees it.
func runOnTerminal(t *testing.T, cols uint16, args ...string) string {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 50, Cols: cols}); err != nil {
		t.Fatal(err)
	}
	read := make(chan string)
	go func() {
		var buf bytes.Buffer
		io.Copy(&buf, ptmx) // until the terminal's other end closes
		read <- buf.String()
	}()
	var errOut bytes.Buffer
	err = clierr.Run(context.Background(), newApp(tty, &errOut), append([]string{"layerq"}, args...))
	tty.Close()
	out := <-read
	if err != nil {
		t.Fatalf("%v: %v (%s)", args, err, errOut.String())
	}
	// The terminal turns each line feed into CR LF.
	return strings.ReplaceAll(out, "\r\n", "\n")
}

var fullDigest = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

// On a terminal a table fits its width and shows short digests; piped, the
// same report prints every value whole.
func TestTerminalOutput(t *testing.T) {
	url, _, _ := seeded(t)
	t.Setenv("COLUMNS", "")
	for _, cols := range []uint16{80, 120} {
		for _, cmd := range [][]string{{"image", "team/app:1"}, {"top-shared", "--min-images", "1"}, {"bases"}, {"storage"}, {"duplicates"}} {
			out := runOnTerminal(t, cols, append([]string{"--database-url", url}, cmd...)...)
			table := out[strings.LastIndex(strings.TrimSuffix(out, "\n\n"), "\n\n")+1:] // the rows, after the preamble
			for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				if n := len([]rune(line)); n > int(cols) {
					t.Errorf("%v at %d columns: a line of %d: %q", cmd, cols, n, line)
				}
			}
			if m := fullDigest.FindString(table); m != "" && cmd[0] != "image" {
				t.Errorf("%v at %d columns: a whole digest in the table: %s", cmd, cols, m)
			}
		}
	}
	// The image's rows show 12 hex digits per digest on a terminal, the
	// whole digest when piped or with --no-trunc.
	short := regexp.MustCompile(`(?m)^[01] +[0-9a-f]{12} `)
	if out := runOnTerminal(t, 100, "--database-url", url, "image", "team/app:1"); len(short.FindAllString(out, -1)) != 2 {
		t.Errorf("terminal image rows:\n%s", out)
	}
	whole := regexp.MustCompile(`(?m)^[01] +sha256:[0-9a-f]{64} `)
	if out := runOnTerminal(t, 100, "--database-url", url, "image", "--no-trunc", "team/app:1"); len(whole.FindAllString(out, -1)) != 2 {
		t.Errorf("--no-trunc image rows:\n%s", out)
	}
	out, _, err := runCLI(t, "--database-url", url, "image", "team/app:1")
	if err != nil || len(whole.FindAllString(out, -1)) != 2 {
		t.Errorf("piped image rows (%v):\n%s", err, out)
	}
	// COLUMNS, as shells set it, wins over the terminal's own width.
	t.Setenv("COLUMNS", "72")
	out = runOnTerminal(t, 200, "--database-url", url, "top-shared", "--min-images", "1")
	for _, line := range strings.Split(out, "\n") {
		if len([]rune(line)) > 72 {
			t.Errorf("COLUMNS=72: %q", line)
		}
	}
	if !strings.Contains(out, "…") { // 200 columns would show every value whole
		t.Errorf("COLUMNS=72 cut nothing:\n%s", out)
	}
}
