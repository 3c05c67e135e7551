// Package depstest asserts what a package links: the walls between
// layerq's parts, as tests.
package depstest

import (
	"os/exec"
	"strings"
	"testing"
)

// Forbid fails t for every package pkg links (go list -deps) that is one of
// banned or below one of them (banned "a/b" covers "a/b" and "a/b/c").
// pkg is an import path, or "." for the test's own package.
func Forbid(t testing.TB, pkg string, banned ...string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, b := range banned {
			b = strings.TrimSuffix(b, "/")
			if dep == b || strings.HasPrefix(dep, b+"/") {
				t.Errorf("%s links %s", pkg, dep)
			}
		}
	}
}
