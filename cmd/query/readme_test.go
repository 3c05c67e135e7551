package main

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/layerq/layerq/internal/clidoc"
)

func TestReadmeDocumentsEveryFlag(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if m := clidoc.Missing(newApp(io.Discard, io.Discard), string(b)); len(m) > 0 {
		t.Errorf("README.md does not document: %s", strings.Join(m, ", "))
	}
}
