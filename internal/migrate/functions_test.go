package migrate_test

import (
	"context"
	"errors"
	"io/fs"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/layerq/layerq/internal/migrate"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	sqlfiles "github.com/layerq/layerq/sql"
)

// Functions the migrations define that have no file in sql/functions, and
// why. layerq_instruction and layerq_brief (00009) are pg_temp functions of
// that migration's one-time rewrite, dropped at its end: they never reach
// the schema, so they are not listed.
var migrationOnly = map[string]string{}

// Functions whose file differs from the definition the last migration to
// define them gave. Each needs a migration no more: list it here when you
// change its file.
var changedSinceMigrations = map[string]bool{"layerq_apply_content": true, "layerq_apply_queue": true, "layerq_apply_membership_blobs": true,
	"layerq_apply_membership":    true,
	"layerq_add_tag_transitions": true, "layerq_load_membership": true,
	// 00011 creates them as stubs (the first fold after it builds the kept state)
	"layerq_is_run": true, "layerq_has_layer_run": true, "layerq_apply_index_state": true, "layerq_apply_file_contents": true,
	"layerq_image_bloat": true, "layerq_apply_bloat": true}

// fileFunction is a function as a file of sql/functions defines it.
type fileFunction struct {
	file, name, body string
}

var createFunction = regexp.MustCompile(`(?is)CREATE\s+OR\s+REPLACE\s+FUNCTION\s+([a-z0-9_]+)\s*\(.*?\bAS\s+\$\$(.*?)\$\$`)

// filesFunctions reads the functions of sql/functions, by name.
func filesFunctions(t *testing.T) map[string]fileFunction {
	t.Helper()
	names, err := fs.Glob(sqlfiles.Functions, "functions/*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("function files %v, %v", names, err)
	}
	out := map[string]fileFunction{}
	for _, name := range names {
		b, err := fs.ReadFile(sqlfiles.Functions, name)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(strings.ToUpper(string(b)), "CREATE OR REPLACE FUNCTION"); n == 0 {
			t.Fatalf("%s creates no function", name)
		} else if m := createFunction.FindAllStringSubmatch(string(b), -1); len(m) != n {
			t.Fatalf("%s: %d CREATE OR REPLACE FUNCTION, %d parsed (each is name(...) ... AS $$body$$)", name, n, len(m))
		}
		for _, m := range createFunction.FindAllStringSubmatch(string(b), -1) {
			if prev, ok := out[m[1]]; ok {
				t.Fatalf("%s is defined in %s and %s", m[1], prev.file, name)
			}
			out[m[1]] = fileFunction{file: name, name: m[1], body: m[2]}
		}
	}
	return out
}

// dbFunction is a layerq_ function of the schema.
type dbFunction struct {
	oid               uint32
	name, def, source string
	acl, owner        string
}

// schemaFunctions reads the schema's layerq_ functions, by signature.
func schemaFunctions(t *testing.T, conn *pgx.Conn) map[string]dbFunction {
	t.Helper()
	ctx := context.Background()
	rows, err := conn.Query(ctx, `
		SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', p.oid, p.proname,
			pg_get_functiondef(p.oid), p.prosrc, coalesce(p.proacl::text, ''), pg_get_userbyid(p.proowner)
		FROM pg_proc p
		WHERE p.pronamespace = current_schema()::regnamespace AND p.proname LIKE 'layerq\_%'`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]dbFunction{}
	for rows.Next() {
		var sig string
		var f dbFunction
		if err := rows.Scan(&sig, &f.oid, &f.name, &f.def, &f.source, &f.acl, &f.owner); err != nil {
			t.Fatal(err)
		}
		out[sig] = f
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func normalize(s string) string { return strings.Join(strings.Fields(s), " ") }

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func lastVersion(t *testing.T) int64 {
	t.Helper()
	files, err := fs.Glob(sqlfiles.Migrations, "migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migration files %v, %v", files, err)
	}
	return int64(len(files)) // numbered 1 to n, one file each
}

// From empty, the schema's functions are the files', body for body, and
// migrating again changes none of them.
func TestFunctionsFromEmpty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewEmptyDatabase(t)
	if _, err := migrate.Run(ctx, url); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, url)
	files := filesFunctions(t)
	got := schemaFunctions(t, conn)
	byName := map[string][]dbFunction{}
	for _, f := range got {
		byName[f.name] = append(byName[f.name], f)
	}
	for name, ff := range files {
		same := byName[name]
		if len(same) != 1 {
			t.Errorf("%s (%s): %d functions of that name in the schema, want 1", name, ff.file, len(same))
			continue
		}
		if normalize(same[0].source) != normalize(ff.body) {
			t.Errorf("%s: the schema's body differs from %s's:\n%s\nwant\n%s", name, ff.file, same[0].source, ff.body)
		}
	}
	for name := range byName {
		if _, ok := files[name]; !ok {
			if _, ok := migrationOnly[name]; !ok {
				t.Errorf("%s is in the schema but in no file of sql/functions (nor listed as left to a migration)", name)
			}
		}
	}

	// Every trigger runs a function of the files.
	rows, err := conn.Query(ctx, `SELECT tgname, p.proname FROM pg_trigger tg JOIN pg_proc p ON p.oid = tg.tgfoid WHERE NOT tg.tgisinternal`)
	if err != nil {
		t.Fatal(err)
	}
	triggers := 0
	for rows.Next() {
		var trigger, fn string
		if err := rows.Scan(&trigger, &fn); err != nil {
			t.Fatal(err)
		}
		triggers++
		if _, ok := files[fn]; !ok {
			t.Errorf("trigger %s runs %s, which no file defines", trigger, fn)
		}
	}
	if rows.Err() != nil || triggers < 6 {
		t.Fatalf("%d triggers, %v; want the 6 of migration 00003 at least", triggers, rows.Err())
	}

	res, err := migrate.Run(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 0 || res.Functions {
		t.Fatalf("second run = %+v; want nothing applied and no function replaced", res)
	}
	if again := schemaFunctions(t, conn); !mapsEqual(again, got) {
		t.Fatalf("the second run changed the functions:\n%v\nwant\n%v", again, got)
	}
}

func mapsEqual(a, b map[string]dbFunction) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// A database migrated by the migrations alone (as layerq before
// sql/functions left it) ends, migrated again, with the functions of one
// migrated from empty; the functions keep their OIDs, owners and grants.
func TestFunctionsOverMigratedSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old, fresh := pgtest.NewEmptyDatabase(t), pgtest.NewEmptyDatabase(t)
	if err := migrate.RunTo(ctx, old, lastVersion(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Run(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	oldConn, freshConn := connect(t, old), connect(t, fresh)
	before := schemaFunctions(t, oldConn)
	files := filesFunctions(t)

	// The files hold the definitions the migrations gave, header and body
	// (but for the functions changed since): created in a schema of their
	// own, each is its migrated twin.
	created := filesInSchema(t, oldConn)
	for name, ff := range files {
		var twin dbFunction
		for _, f := range before {
			if f.name == name {
				twin = f
			}
		}
		if twin.name == "" {
			t.Errorf("%s (%s): no such function after the migrations", name, ff.file)
			continue
		}
		def, ok := created[name]
		if !ok {
			t.Errorf("%s: %s did not create it", name, ff.file)
			continue
		}
		if changed := stripName(def) != stripName(twin.def); changed != changedSinceMigrations[name] {
			t.Errorf("%s: changed since the migrations = %v, want %v; %s defines\n%s\nthe migrations\n%s",
				name, changed, changedSinceMigrations[name], ff.file, def, twin.def)
		}
	}

	res, err := migrate.Run(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 0 || res.Functions != (len(changedSinceMigrations) > 0) {
		t.Fatalf("Run after RunTo(last) = %+v; want nothing applied, functions replaced only if some changed", res)
	}
	after, want := schemaFunctions(t, oldConn), schemaFunctions(t, freshConn)
	if len(after) != len(want) || len(after) != len(files)+len(migrationOnly) {
		t.Errorf("%d functions; %d migrated from empty, %d in files and %d left to migrations", len(after), len(want), len(files), len(migrationOnly))
	}
	for sig, a := range after {
		w, ok := want[sig]
		if !ok {
			t.Errorf("%s: not in a database migrated from empty", sig)
			continue
		}
		if a.def != w.def || a.acl != w.acl || a.owner != w.owner {
			t.Errorf("%s: %s %s\n%s\nfrom empty: %s %s\n%s", sig, a.owner, a.acl, a.def, w.owner, w.acl, w.def)
		}
		if b := before[sig]; a.oid != b.oid || a.acl != b.acl || a.owner != b.owner {
			t.Errorf("%s: oid, acl, owner %d %s %s, were %d %s %s", sig, a.oid, a.acl, a.owner, b.oid, b.acl, b.owner)
		}
	}
	checkGrants(t, oldConn)
}

// filesInSchema creates the functions of sql/functions in a schema of their
// own, in a transaction rolled back at the end, and returns their
// definitions by name.
func filesInSchema(t *testing.T, conn *pgx.Conn) map[string]string {
	t.Helper()
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := tx.Rollback(ctx); err != nil {
			t.Error(err)
		}
	}()
	if _, err := tx.Exec(ctx, `CREATE SCHEMA files_check; SET LOCAL search_path = files_check, public`); err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(sqlfiles.Functions, "functions/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		b, err := fs.ReadFile(sqlfiles.Functions, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, string(b)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	rows, err := tx.Query(ctx, `SELECT proname, pg_get_functiondef(oid) FROM pg_proc WHERE pronamespace = 'files_check'::regnamespace`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			t.Fatal(err)
		}
		out[name] = def
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// stripName is a definition from pg_get_functiondef from its arguments on,
// without the schema-qualified name before them.
func stripName(def string) string {
	if i := strings.IndexByte(def, '('); i >= 0 {
		return def[i:]
	}
	return def
}

// checkGrants asserts the grants the migrations made on the fold's
// functions: only the owner and layerq_writer may run layerq_apply_pending,
// only the owner layerq_apply_queue.
func checkGrants(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	var writerPending, publicPending, writerQueue, publicQueue bool
	if err := conn.QueryRow(context.Background(), `
		SELECT has_function_privilege('layerq_writer', 'layerq_apply_pending()', 'EXECUTE'),
			has_function_privilege('public', 'layerq_apply_pending()', 'EXECUTE'),
			has_function_privilege('layerq_writer', 'layerq_apply_queue()', 'EXECUTE'),
			has_function_privilege('public', 'layerq_apply_queue()', 'EXECUTE')`).Scan(&writerPending, &publicPending, &writerQueue, &publicQueue); err != nil {
		t.Fatal(err)
	}
	if !writerPending || publicPending || writerQueue || publicQueue {
		t.Errorf("EXECUTE on layerq_apply_pending: layerq_writer %v, PUBLIC %v; on layerq_apply_queue: %v, %v; want true, false, false, false",
			writerPending, publicPending, writerQueue, publicQueue)
	}
}

// stale makes the database's functions differ from the files, as an older
// layerq would have left them: a body changed, a header changed, a function
// missing. It returns the signatures it touched.
func stale(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	if _, err := conn.Exec(context.Background(), `
		CREATE OR REPLACE FUNCTION layerq_apply_pending() RETURNS integer
		LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$ BEGIN RETURN -1; END; $$;
		CREATE OR REPLACE FUNCTION layerq_tag_events_inserted() RETURNS trigger
		LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END; $$;
		CREATE OR REPLACE FUNCTION layerq_namespace(name text) RETURNS text
		LANGUAGE sql IMMUTABLE AS $$ SELECT split_part(name, '/', 1) $$;
		DROP FUNCTION layerq_stream_images(bigint, text);`); err != nil {
		t.Fatal(err)
	}
	return []string{"layerq_apply_pending()", "layerq_tag_events_inserted()", "layerq_namespace(name text)", "layerq_stream_images(p_repo bigint, p_digest text)"}
}

// Functions that differ from the files (a body, a header, a function
// missing) are replaced, keeping their OIDs and grants, by one of several
// migrators running at once; the triggers go on running them.
func TestFunctionsReplaced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	conn := connect(t, url)
	want := schemaFunctions(t, conn)
	touched := stale(t, conn)
	staled := schemaFunctions(t, conn)
	for _, sig := range touched {
		if staled[sig].def == want[sig].def {
			t.Fatalf("%s did not change", sig)
		}
	}

	var wg sync.WaitGroup
	results := make([]migrate.Result, 4)
	errs := make([]error, 4)
	for i := range results {
		wg.Go(func() { results[i], errs[i] = migrate.Run(ctx, url) })
	}
	wg.Wait()
	replaced := 0
	for i, res := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if len(res.Applied) != 0 {
			t.Errorf("run %d applied %v", i, res.Applied)
		}
		if res.Functions {
			replaced++
		}
	}
	if replaced != 1 {
		t.Errorf("%d of 4 concurrent runs replaced the functions, want 1", replaced)
	}
	got := schemaFunctions(t, conn)
	if len(got) != len(want) {
		t.Errorf("%d functions, want %d", len(got), len(want))
	}
	for sig, w := range want {
		g := got[sig]
		if g.def != w.def || g.acl != w.acl || g.owner != w.owner {
			t.Errorf("%s: %s %s\n%s\nwant %s %s\n%s", sig, g.owner, g.acl, g.def, w.owner, w.acl, w.def)
		}
		if sig != touched[3] && g.oid != w.oid {
			t.Errorf("%s: oid %d, was %d (replaced, not recreated)", sig, g.oid, w.oid)
		}
	}
	checkGrants(t, conn)

	// The trigger runs the replaced function: a tag move is queued again.
	var queued int
	if err := conn.QueryRow(ctx, `
		WITH r AS (INSERT INTO repositories (registry, name) VALUES ('reg.test', 'team/app') RETURNING id),
		e AS (INSERT INTO tag_events (repository_id, tag, action, manifest_digest, previous_digest, occurred_at, source)
		      SELECT id, 'v1', 'push', 'sha256:b', 'sha256:a', now(), 'test' FROM r RETURNING id)
		SELECT count(*) FROM e`).Scan(&queued); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM aggregate_queue WHERE tag_event_id IS NOT NULL`).Scan(&queued); err != nil {
		t.Fatal(err)
	}
	if queued != 1 {
		t.Errorf("%d tag events queued after a push, want 1", queued)
	}
}

// A role that may not replace the functions (layerq_writer) migrates a
// database whose functions are the files' without error, and fails on one
// whose functions differ, changing nothing.
func TestFunctionsAsWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	writer := pgtest.LoginIn(t, url, "layerq_writer")
	res, err := migrate.Run(ctx, writer)
	if err != nil || len(res.Applied) != 0 || res.Functions {
		t.Fatalf("Run as layerq_writer on an up-to-date database = %+v, %v; want nothing done", res, err)
	}
	conn := connect(t, url)
	stale(t, conn)
	want := schemaFunctions(t, conn)
	_, err = migrate.Run(ctx, writer)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Fatalf("Run as layerq_writer with functions to replace: %v; want insufficient_privilege (42501)", err)
	}
	if got := schemaFunctions(t, conn); !mapsEqual(got, want) {
		t.Errorf("the failed run changed the functions")
	}
}

// A file can change a function's signature as sql.go describes: it drops
// the old one, creates the new one and grants it what the old one had.
// Applied once, it is then current: applying it again changes nothing, and
// needs no right to.
func TestFunctionSignatureChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	conn := connect(t, url)
	// As a migration would have made it.
	if _, err := conn.Exec(ctx, `
		CREATE FUNCTION layerq_sig_test(n integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT n + 1 $$;
		REVOKE EXECUTE ON FUNCTION layerq_sig_test(integer) FROM PUBLIC;
		GRANT EXECUTE ON FUNCTION layerq_sig_test(integer) TO layerq_writer;`); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"functions/sig_test.sql": `
-- n is a bigint now.
DROP FUNCTION IF EXISTS layerq_sig_test(integer);
CREATE OR REPLACE FUNCTION layerq_sig_test(n bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT n + 1 $$;
REVOKE EXECUTE ON FUNCTION layerq_sig_test(bigint) FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        GRANT EXECUTE ON FUNCTION layerq_sig_test(bigint) TO layerq_writer;
    END IF;
END
$$;
`}
	writer := pgtest.LoginIn(t, url, "layerq_writer")
	var pgErr *pgconn.PgError
	if _, err := migrate.ApplyFunctionFiles(ctx, writer, files); !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Fatalf("layerq_writer changing a function's signature: %v; want insufficient_privilege (42501)", err)
	}
	for i, want := range []bool{true, false} {
		replaced, err := migrate.ApplyFunctionFiles(ctx, url, files)
		if err != nil || replaced != want {
			t.Fatalf("applying the file, time %d: replaced %v, %v; want %v", i+1, replaced, err, want)
		}
	}
	if replaced, err := migrate.ApplyFunctionFiles(ctx, writer, files); err != nil || replaced {
		t.Fatalf("applying the file as layerq_writer once applied: replaced %v, %v; want false, no error", replaced, err)
	}
	var sigs []string
	var writerMay, publicMay bool
	if err := conn.QueryRow(ctx, `
		SELECT array_agg(oid::regprocedure::text), bool_and(has_function_privilege('layerq_writer', oid, 'EXECUTE')),
			bool_or(has_function_privilege('public', oid, 'EXECUTE'))
		FROM pg_proc WHERE proname = 'layerq_sig_test'`).Scan(&sigs, &writerMay, &publicMay); err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 1 || sigs[0] != "layerq_sig_test(bigint)" || !writerMay || publicMay {
		t.Errorf("after the change: %v, layerq_writer may run it %v, PUBLIC %v; want [layerq_sig_test(bigint)], true, false", sigs, writerMay, publicMay)
	}
}

// A database migrated by a newer layerq (a version this binary lacks) keeps
// its functions: an older binary's definitions would not fit its schema.
func TestFunctionsKeptForNewerSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	conn := connect(t, url)
	newer := lastVersion(t) + 1
	if _, err := conn.Exec(ctx, `INSERT INTO layerq_schema_migrations (version_id, is_applied) VALUES ($1, true)`, newer); err != nil {
		t.Fatal(err)
	}
	stale(t, conn)
	want := schemaFunctions(t, conn)
	res, err := migrate.Run(ctx, url)
	if err != nil || len(res.Applied) != 0 || res.Version != newer || res.Functions {
		t.Fatalf("Run on a newer schema = %+v, %v; want nothing applied at version %d, no function replaced", res, err, newer)
	}
	if got := schemaFunctions(t, conn); !mapsEqual(got, want) {
		t.Errorf("Run on a newer schema changed its functions")
	}
}

// At start (Up), a database whose functions carry the fingerprint of this
// binary's files is taken as it is; migrate (Run) checks every definition
// and puts back one changed behind the fingerprint's back.
func TestUpTrustsTheFingerprint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewEmptyDatabase(t)
	if err := migrate.Up(ctx, url); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, url)
	var fp string
	if err := conn.QueryRow(ctx, `SELECT obj_description(to_regprocedure('layerq_apply_pending()'), 'pg_proc')`).Scan(&fp); err != nil || !strings.HasPrefix(fp, "layerq functions sha256:") {
		t.Fatalf("fingerprint %q (%v)", fp, err)
	}
	// A hand edit that keeps the fingerprint.
	if _, err := conn.Exec(ctx, `CREATE OR REPLACE FUNCTION layerq_namespace(name text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'edited' $$`); err != nil {
		t.Fatal(err)
	}
	edited := func() bool {
		var src string
		if err := conn.QueryRow(ctx, `SELECT prosrc FROM pg_proc WHERE oid = to_regprocedure('layerq_namespace(text)')`).Scan(&src); err != nil {
			t.Fatal(err)
		}
		return strings.Contains(src, "edited")
	}
	if err := migrate.Up(ctx, url); err != nil {
		t.Fatal(err)
	}
	if !edited() {
		t.Fatal("Up replaced a function whose fingerprint was this binary's")
	}
	res, err := migrate.Run(ctx, url)
	if err != nil || !res.Functions || edited() {
		t.Fatalf("Run = %+v, %v (still edited: %v); want the functions replaced", res, err, edited())
	}
	// A stale fingerprint: Up checks, finds them right, and leaves them.
	if _, err := conn.Exec(ctx, `COMMENT ON FUNCTION layerq_apply_pending() IS 'layerq functions sha256:old'`); err != nil {
		t.Fatal(err)
	}
	if err := migrate.Up(ctx, url); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT obj_description(to_regprocedure('layerq_apply_pending()'), 'pg_proc')`).Scan(&fp); err != nil || fp == "layerq functions sha256:old" {
		t.Fatalf("fingerprint after Up over a stale one: %q (%v)", fp, err)
	}
}
