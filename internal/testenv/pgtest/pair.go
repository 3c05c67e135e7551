package pgtest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/migrate"
	"github.com/layerq/layerq/internal/pglaunch"
)

// Pair is a Postgres primary whose commits wait for its standby
// (synchronous streaming replication) and the standby, two clusters of
// their own beside the harness's, each with the database layerq, migrated.
type Pair struct {
	Primary, Standby *pglaunch.Cluster
	// URL names both hosts, read-write: a client reaches whichever is the
	// primary (after a failover too). PrimaryURL and StandbyURL name one.
	URL, PrimaryURL, StandbyURL string
}

// NewPair starts a Pair, stopped and removed at cleanup.
func NewPair(t testing.TB) *Pair {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	dir := func() string {
		// Under the system temp dir: t.TempDir's parent is private to root,
		// and the server runs as an unprivileged user.
		d, err := os.MkdirTemp(clusterParent(), "layerq-pair-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	p := &Pair{}
	var err error
	if p.Primary, err = pglaunch.Start(ctx, pglaunch.Options{Dir: dir(), ListenTCP: true, Database: "layerq", Settings: []string{"synchronous_commit=on"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Primary.Stop(context.Background()) })
	pool, err := pgxpool.New(ctx, p.Primary.URL("layerq"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := migrate.Run(ctx, p.Primary.URL("layerq")); err != nil {
		t.Fatalf("pgtest: migrating the primary: %v", err)
	}
	if p.Standby, err = pglaunch.Start(ctx, pglaunch.Options{Dir: dir(), ListenTCP: true, StandbyOf: p.Primary}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Standby.Stop(context.Background()) })
	// From now on a commit returns once the standby has it (set once it
	// is there: a primary waiting for an absent standby takes no commit).
	if _, err := pool.Exec(ctx, "ALTER SYSTEM SET synchronous_standby_names = '*'"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var state string
		pool.QueryRow(ctx, "SELECT sync_state FROM pg_stat_replication").Scan(&state)
		if state == "sync" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pgtest: the standby is not streaming synchronously after 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	host := func(c *pglaunch.Cluster) string { return fmt.Sprintf("127.0.0.1:%d", c.Port()) }
	url := func(hosts, attrs string) string {
		return fmt.Sprintf("postgres://%s@%s/layerq?sslmode=disable&target_session_attrs=%s", pglaunch.SuperUser, hosts, attrs)
	}
	p.URL = url(host(p.Primary)+","+host(p.Standby), "read-write")
	p.PrimaryURL, p.StandbyURL = url(host(p.Primary), "any"), url(host(p.Standby), "any")
	return p
}
