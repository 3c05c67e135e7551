package main

import (
	"strings"
	"testing"
)

// A growth gate with nothing compared (no tag pushed twice) cannot pass:
// exit 4, saying why; without a gate the report says there is nothing to
// compare.
func TestGrowthGateNeverPassesBlind(t *testing.T) {
	url, _, _ := seeded(t)
	out, _, err := runCLI(t, "growth", "--repo", "team/**", "--since", "1h", "--fail-over", "10%", "--database-url", url)
	if err == nil || exitCode(err) != 4 || !strings.HasPrefix(err.Error(), "cannot judge (exit status 4): no push of the selected repositories was compared") {
		t.Errorf("growth --fail-over 10%% on no pushes: %v (exit %d)", err, exitCode(err))
	}
	if !strings.Contains(out, "0 pushes compared") {
		t.Errorf("the report still prints; got %q", out)
	}
	out, _, err = runCLI(t, "growth", "--database-url", url)
	if err != nil || !strings.Contains(out, "no push to compare") {
		t.Errorf("growth on no pushes: %q, %v", out, err)
	}
}
