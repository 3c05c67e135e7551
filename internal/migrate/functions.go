package migrate

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	sqlfiles "github.com/layerq/layerq/sql"
)

// The applier lock of the aggregates' fold (graph.ApplyAggregates), which
// replacing the functions takes so that no fold runs half with the old
// definitions and half with the new.
const foldLockClass, foldLockID = 0x6c71, 1

// functionFile is one file of sql/functions.
type functionFile struct {
	name string // functions/<name>.sql
	text string
}

// functionFiles reads sql/functions in file-name order, the order they run.
func functionFiles() ([]functionFile, error) {
	names, err := fs.Glob(sqlfiles.Functions, "functions/*.sql")
	if err != nil {
		return nil, err
	}
	files := make([]functionFile, 0, len(names))
	for _, name := range names {
		b, err := fs.ReadFile(sqlfiles.Functions, name)
		if err != nil {
			return nil, err
		}
		files = append(files, functionFile{name: name, text: string(b)})
	}
	return files, nil
}

// applyFunctions brings the schema's functions to the definitions of the
// files (those of sql/functions), on conn, which holds the migration lock,
// and reports whether it replaced any. When every definition is the
// database's already, it changes nothing.
//
// The check runs the files in a transaction it rolls back (tens of
// milliseconds). With fast, a database whose functions were last brought
// to these very files, as the fingerprint the step leaves on
// layerq_apply_pending says, is taken as it is: what every command that
// opens the local default does at start. `migrate` always checks.
func applyFunctions(ctx context.Context, conn *sql.Conn, files []functionFile, fast bool) (bool, error) {
	replaced := false
	fp := fingerprint(files)
	err := conn.Raw(func(driverConn any) error {
		c := driverConn.(*stdlib.Conn).Conn()
		if fast {
			var comment *string
			if err := c.QueryRow(ctx, qFunctionsFingerprint).Scan(&comment); err != nil {
				return fmt.Errorf("reading the functions' fingerprint: %w", err)
			}
			if comment != nil && *comment == fp {
				return nil
			}
		}
		current, err := functionsCurrent(ctx, c, files)
		if err != nil {
			return err
		}
		if current {
			// Left for the fast path; a role that does not own the
			// functions (the writer) may not, and need not.
			_, _ = c.Exec(ctx, `COMMENT ON FUNCTION layerq_apply_pending() IS '`+fp+`'`)
			return nil
		}
		replaced = true
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, foldLockClass, foldLockID); err != nil {
				return fmt.Errorf("waiting for the aggregates lock: %w", err)
			}
			for _, f := range files {
				if _, err := tx.Exec(ctx, f.text); err != nil {
					return fmt.Errorf("applying %s: %w", f.name, err)
				}
			}
			_, err := tx.Exec(ctx, `COMMENT ON FUNCTION layerq_apply_pending() IS '`+fp+`'`)
			return err
		})
	})
	if err != nil {
		return false, err
	}
	return replaced, nil
}

// fingerprint names the files' contents: "layerq functions sha256:<hex>".
func fingerprint(files []functionFile) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%s\x00", f.name, f.text)
	}
	return "layerq functions sha256:" + hex.EncodeToString(h.Sum(nil))
}

// errUndo ends the check's transaction, which rolls back what it did.
var errUndo = errors.New("undo the check")

// functionsCurrent reports whether running the files would leave the
// schema's functions as they are. It runs them in a transaction it rolls
// back, with the session's temporary schema first on the search path, so
// that what they create goes there (and needs no right on the schema) while
// what they drop or grant acts on the schema, as it would when applied. They
// change nothing if every function they create in the temporary schema has
// an identical twin in the schema and the schema's functions are as before.
//
// A statement that fails in the check (one that names a function new in the
// files, which is then in the temporary schema, where names of functions are
// not looked up; a role without the TEMP right) counts as a difference:
// applying the files then says what is wrong, if anything is.
func functionsCurrent(ctx context.Context, conn *pgx.Conn, files []functionFile) (bool, error) {
	var current bool
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var err error
		if current, err = compareFunctions(ctx, tx, files); err != nil {
			return err
		}
		return errUndo
	})
	if !errors.Is(err, errUndo) {
		return false, fmt.Errorf("checking the functions: %w", err)
	}
	return current, nil
}

// compareFunctions is functionsCurrent inside its transaction.
func compareFunctions(ctx context.Context, tx pgx.Tx, files []functionFile) (bool, error) {
	var schema uint32
	if err := tx.QueryRow(ctx, `SELECT oid FROM pg_namespace WHERE nspname = current_schema()`).Scan(&schema); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return false, errors.New("no schema to create them in: search_path names none that exists")
		}
		return false, err
	}
	before, err := functionsOf(ctx, tx, schema)
	if err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `SELECT set_config('search_path', 'pg_temp, ' || current_setting('search_path'), true)`); err != nil {
		return false, err
	}
	for _, f := range files {
		if _, err := tx.Exec(ctx, f.text); err != nil {
			return false, nil
		}
	}
	after, err := functionsOf(ctx, tx, schema)
	if err != nil || after != before {
		return false, err
	}
	// pg_get_functiondef names the function, schema-qualified, then gives
	// its arguments: the definitions compare from there.
	var differ bool
	err = tx.QueryRow(ctx, `
		SELECT EXISTS (
			SELECT FROM pg_proc t
			WHERE t.pronamespace = pg_my_temp_schema()
			  AND NOT EXISTS (
				SELECT FROM pg_proc s
				WHERE s.pronamespace = $1 AND s.proname = t.proname AND s.proargtypes = t.proargtypes
				  AND s.prokind = t.prokind
				  AND CASE WHEN s.prokind IN ('f', 'p') THEN
				    substr(pg_get_functiondef(s.oid), strpos(pg_get_functiondef(s.oid), '('))
				      = substr(pg_get_functiondef(t.oid), strpos(pg_get_functiondef(t.oid), '(')) END))`,
		schema).Scan(&differ)
	return !differ, err
}

// functionsOf describes the functions of a schema, as a text that changes
// when one is added, dropped, redefined, given to another owner or granted
// otherwise.
func functionsOf(ctx context.Context, tx pgx.Tx, schema uint32) (string, error) {
	var s string
	err := tx.QueryRow(ctx, `
		SELECT coalesce(string_agg(concat_ws(' ', p.oid, p.proname, pg_get_function_identity_arguments(p.oid), p.proowner, p.proacl::text,
			CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) END), E'\n' ORDER BY p.oid), '')
		FROM pg_proc p WHERE p.pronamespace = $1`, schema).Scan(&s)
	return s, err
}
