package database

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// A local server that does not take connections yet (its postmaster.pid
// says ready through a crash recovery) is waited for; other errors are
// returned at once.
func TestSettleLocalWaitsForRecovery(t *testing.T) {
	recovering := fmt.Errorf("reading schema version: %w", &pgconn.PgError{Code: "57P03", Message: "the database system is in recovery mode"})
	refused := fmt.Errorf("connecting: %w", syscall.ECONNREFUSED)
	other := errors.New("permission denied")
	for _, c := range []struct {
		name  string
		first error
		then  []error
		want  error
		calls int
	}{
		{"recovering, then up", recovering, []error{recovering, nil}, nil, 2},
		{"socket refused while restarting, then up", refused, []error{nil}, nil, 1},
		{"another error", other, nil, other, 0},
		{"up", nil, nil, nil, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			err := settleLocal(context.Background(), nil, c.first, func() error {
				calls++
				return c.then[calls-1]
			})
			if !errors.Is(err, c.want) || calls != c.calls {
				t.Errorf("settleLocal = %v after %d checks; want %v after %d", err, calls, c.want, c.calls)
			}
		})
	}
}
