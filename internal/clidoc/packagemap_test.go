package clidoc_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// docs/architecture.md's package map names every package of the module,
// and its first table lists them from the binaries down: a package there
// imports only packages listed below it, or those of the second table
// (the demo's images and registry, the test harnesses, the benchmarks).
func TestArchitecturePackageMap(t *testing.T) {
	b, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "## Packages")
	if i < 0 {
		t.Fatal("docs/architecture.md has no Packages section")
	}
	tables := strings.SplitN(doc[i:], "\n\nBeside them", 2)
	if len(tables) != 2 {
		t.Fatal("the Packages section has no second table (\"Beside them …\")")
	}
	row := regexp.MustCompile("(?m)^\\| ((?:`[^`]+`(?:, )?)+) \\|")
	name := regexp.MustCompile("`([^`]+)`")
	rank := map[string]int{} // position in the first table; -1: the second
	for n, part := range tables {
		for k, m := range row.FindAllStringSubmatch(part, -1) {
			for _, p := range name.FindAllStringSubmatch(m[1], -1) {
				rank[p[1]] = k
				if n == 1 {
					rank[p[1]] = -1
				}
			}
		}
	}

	const mod = "github.com/layerq/layerq/"
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], mod)
		r, ok := rank[pkg]
		if !ok {
			t.Errorf("docs/architecture.md's package map does not name %s", pkg)
			continue
		}
		if r < 0 {
			continue
		}
		for _, imp := range f[1:] {
			dep, ours := strings.CutPrefix(imp, mod)
			if !ours {
				continue
			}
			if d, ok := rank[dep]; ok && d >= 0 && d < r {
				t.Errorf("%s imports %s, listed above it in docs/architecture.md's package map", pkg, dep)
			}
		}
	}
}
