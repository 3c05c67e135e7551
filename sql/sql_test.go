package sqlfiles_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// notInSubquery is NOT IN over a subquery. Postgres runs it as a hashed
// subplan only while the subquery's rows fit in work_mem; past that it
// rescans them for every outer row. A first fold of a 1M-image graph spent
// over an hour so, reading terabytes of a trigger's transition table back
// from temporary files. NOT EXISTS is an anti-join, planned by the rows'
// counts (hashed in batches when large).
var notInSubquery = regexp.MustCompile(`(?is)\bNOT\s+IN\s*\(\s*SELECT\b`)

// Every statement and function of the schema's files that runs in
// production: none uses NOT IN over a subquery. The migrations are history
// (each function they define is replaced from sql/functions).
func TestNoNotInSubquery(t *testing.T) {
	var files []string
	for _, dir := range []string{"functions", "queries", "pgx"} {
		m, err := filepath.Glob(filepath.Join(dir, "*.sql"))
		if err != nil || len(m) == 0 {
			t.Fatalf("%s: %v %v", dir, m, err)
		}
		files = append(files, m...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, loc := range notInSubquery.FindAllIndex(b, -1) {
			line := strings.Count(string(b[:loc[0]]), "\n") + 1
			t.Errorf("%s:%d: NOT IN (SELECT …): write NOT EXISTS (SELECT FROM … WHERE …), which does not degrade to a rescan per row past work_mem", f, line)
		}
	}
}
