package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureDir holds copies of captured distribution notifications (see its
// README.md for where they come from).
const fixtureDir = "testdata/distribution-v3.1.2"

// fixture is one captured request: the headers that matter and the body.
type fixture struct {
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// loadFixture reads testdata/distribution-v3.1.2/<name>.json; a missing or
// unreadable fixture fails the test, naming where it looked.
func loadFixture(t testing.TB, name string) fixture {
	t.Helper()
	path := filepath.Join(fixtureDir, name+".json")
	b, err := os.ReadFile(path)
	if err != nil {
		abs, _ := filepath.Abs(path)
		t.Fatalf("fixture %s: %v (looked in %s)", name, err, abs)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	if len(f.Body) == 0 {
		t.Fatalf("fixture %s has no body", name)
	}
	return f
}

// fixtureNames lists the fixtures present, without the .json suffix.
func fixtureNames(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		abs, _ := filepath.Abs(fixtureDir)
		t.Fatalf("no fixtures found (looked in %s)", abs)
	}
	var names []string
	for _, p := range paths {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".json"))
	}
	return names
}

// checkResult compares a decoder's outcome with the expected events and
// ignored count, and checks every event passes Validate.
func checkResult(t *testing.T, got Result, err error, want []Event, wantIgnored int) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if got.Ignored != wantIgnored {
		t.Errorf("Ignored = %d, want %d", got.Ignored, wantIgnored)
	}
	if len(got.Events) != len(want) {
		t.Fatalf("got %d events, want %d:\n got: %s\nwant: %s", len(got.Events), len(want), dump(got.Events), dump(want))
	}
	for i := range want {
		if !sameEvent(got.Events[i], want[i]) {
			t.Errorf("event %d:\n got: %s\nwant: %s", i, dump(got.Events[i]), dump(want[i]))
		}
		if verr := got.Events[i].Validate(); verr != nil {
			t.Errorf("event %d does not validate: %v", i, verr)
		}
	}
}

func sameEvent(a, b Event) bool {
	ta, tb := a.Time, b.Time
	a.Time, b.Time = ta.UTC(), tb.UTC()
	return a == b && ta.Equal(tb) && ta.Location() == tb.Location()
}

// checkReason asserts err is a *DecodeError with exactly the reason want.
func checkReason(t *testing.T, res Result, err error, want string) {
	t.Helper()
	if err == nil {
		// An event of a well-formed body: rejected alone, nothing used.
		if len(res.Rejected) != 1 || len(res.Events) != 0 {
			t.Fatalf("no error and not one rejected event (result %+v), want %q", res, want)
		}
		if got := res.Rejected[0].Reason; got != want {
			t.Errorf("rejected event's reason:\n got: %s\nwant: %s", got, want)
		}
		return
	}
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %T %v is not a *DecodeError", err, err)
	}
	if de.Error() != want {
		t.Errorf("reason:\n got: %s\nwant: %s", de.Error(), want)
	}
	if strings.ContainsAny(de.Error(), "\r\n") {
		t.Errorf("reason is not one line: %q", de.Error())
	}
	if len(res.Events) != 0 || res.Ignored != 0 || len(res.Rejected) != 0 {
		t.Errorf("error came with a result: %+v", res)
	}
}

func dump(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}
