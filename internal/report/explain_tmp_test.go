package report_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	sqlfiles "github.com/layerq/layerq/sql"
)

func BenchmarkExplainTmp(b *testing.B) {
	pool := synthPool(b)
	ctx := context.Background()
	for _, q := range []struct{ name string; args []any }{
		{"cache_repositories", []any{"^.*$", time.Unix(0, 0)}},
		{"cache_transitions", []any{"^.*$", time.Unix(0, 0), 10}},
		{"cache_over_time", []any{"^.*$", time.Unix(0, 0)}},
		{"cache_busters", []any{"^.*$", time.Unix(0, 0), 10}},
		{"bases", []any{"^.*$"}},
	} {
		rows, err := pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS off) "+sqlfiles.Query(q.name), q.args...)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Println("=====", q.name)
		for rows.Next() {
			var s string
			rows.Scan(&s)
			fmt.Println(s)
		}
	}
	var n [4]int64
	pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM cache_transitions), (SELECT count(*) FROM cache_transitions WHERE stream_kind='tag'), (SELECT count(*) FROM image_bases), (SELECT count(*) FROM base_repositories)`).Scan(&n[0], &n[1], &n[2], &n[3])
	fmt.Println(n)
}
