package demo_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/layerq/layerq/internal/demo"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The demo as go tool task demo runs it: every reference it pushes arrives
// through the webhooks, its layers are indexed, and the scan after finds
// nothing new.
func TestDemo(t *testing.T) {
	pool := pgtest.NewPool(t)
	var out, errOut bytes.Buffer
	if err := demo.Run(context.Background(), demo.Options{Pool: pool, DataDir: t.TempDir(), Out: &out, ErrOut: &errOut}); err != nil {
		t.Fatalf("%v\n%s%s", err, errOut.String(), out.String())
	}
	pushed := regexp.MustCompile(`(?m)^  (image|index|artifact) +\S+$`).FindAllString(errOut.String(), -1)
	if len(pushed) < 5 || !strings.Contains(out.String(), fmt.Sprintf("all %d references arrived in the graph through webhooks", len(pushed))) ||
		!strings.Contains(out.String(), " 0 manifests, 0 layers, ") {
		t.Fatalf("pushed %d references:\n%s%s", len(pushed), errOut.String(), out.String())
	}
}
