package migrate

import (
	"context"
	"database/sql"
	"sort"
)

// ApplyFunctionFiles is Run's function step with other files than
// sql/functions: text by file name, run in name order.
func ApplyFunctionFiles(ctx context.Context, databaseURL string, files map[string]string) (bool, error) {
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return false, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	var ff []functionFile
	for name, text := range files {
		ff = append(ff, functionFile{name: name, text: text})
	}
	sort.Slice(ff, func(i, j int) bool { return ff[i].name < ff[j].name })
	return applyFunctions(ctx, conn, ff, false)
}
