package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/layerq/layerq/internal/quarantine"
	sqlfiles "github.com/layerq/layerq/sql"
)

var (
	qQuarantineInsert   = sqlfiles.Query("quarantine_insert")
	qQuarantineList     = sqlfiles.Query("quarantine_list")
	qQuarantineGet      = sqlfiles.Query("quarantine_get")
	qQuarantineReplayed = sqlfiles.Query("quarantine_replayed")
	qQuarantineDrop     = sqlfiles.Query("quarantine_drop")
	qAliasSeen          = sqlfiles.Query("alias_seen")
	qAliasList          = sqlfiles.Query("alias_list")
)

// Quarantined is a quarantined item as the table keeps it.
type Quarantined struct {
	quarantine.Item
	// Seen counts the deliveries of the item.
	Seen int `json:"-"`
	// ReplayedAt is when a replay used everything in it (zero: not yet).
	ReplayedAt time.Time `json:"-"`
	// ReplayNote says what the last replay did.
	ReplayNote string `json:"-"`
}

// SaveQuarantine keeps an item in the quarantine table (once per id).
func (s *Store) SaveQuarantine(ctx context.Context, it quarantine.Item) error {
	var header []byte
	if len(it.Header) > 0 {
		var err error
		if header, err = json.Marshal(it.Header); err != nil {
			return err
		}
	}
	_, err := s.pool.Exec(ctx, qQuarantineInsert, it.ID, it.Source, it.Registry, string(it.Reason), it.Detail, it.Kind, it.Data,
		nullBytes(header), it.ReceivedAt)
	return err
}

func nullBytes(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

func scanQuarantined(row pgx.Row) (Quarantined, error) {
	var (
		q        Quarantined
		reason   string
		header   []byte
		replayed *time.Time
	)
	if err := row.Scan(&q.ID, &q.Source, &q.Registry, &reason, &q.Detail, &q.Kind, &q.Data, &header, &q.ReceivedAt, &q.Seen, &replayed, &q.ReplayNote); err != nil {
		return q, err
	}
	q.Reason = quarantine.Reason(reason)
	if len(header) > 0 {
		if err := json.Unmarshal(header, &q.Header); err != nil {
			return q, fmt.Errorf("quarantine item %s: header: %w", q.ID, err)
		}
	}
	if replayed != nil {
		q.ReplayedAt = *replayed
	}
	return q, nil
}

// ListQuarantine returns the quarantined items, oldest first; with all,
// the replayed ones too.
func (s *Store) ListQuarantine(ctx context.Context, all bool) ([]Quarantined, error) {
	rows, err := s.pool.Query(ctx, qQuarantineList, all)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Quarantined
	for rows.Next() {
		q, err := scanQuarantined(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// ErrAmbiguous means an id prefix names more than one item.
var ErrAmbiguous = errors.New("ambiguous")

// GetQuarantine returns the item with id, or the one item whose id starts
// with it: ErrNotFound when none, ErrAmbiguous when several.
func (s *Store) GetQuarantine(ctx context.Context, id string) (Quarantined, error) {
	rows, err := s.pool.Query(ctx, qQuarantineGet, id)
	if err != nil {
		return Quarantined{}, err
	}
	defer rows.Close()
	var out []Quarantined
	for rows.Next() {
		q, err := scanQuarantined(rows)
		if err != nil {
			return Quarantined{}, err
		}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return Quarantined{}, err
	}
	switch {
	case len(out) == 0:
		return Quarantined{}, fmt.Errorf("quarantine item %q: %w", id, ErrNotFound)
	case len(out) > 1 && out[0].ID != id:
		return Quarantined{}, fmt.Errorf("quarantine item %q: %w: give more of the id", id, ErrAmbiguous)
	}
	return out[0], nil
}

// MarkReplayed records what a replay of an item did: done when everything
// in it was used (it then leaves the default listing).
func (s *Store) MarkReplayed(ctx context.Context, id string, done bool, note string) error {
	_, err := s.pool.Exec(ctx, qQuarantineReplayed, id, done, note)
	return err
}

// DropQuarantine deletes items; it returns how many it deleted.
func (s *Store) DropQuarantine(ctx context.Context, ids []string) (int64, error) {
	tag, err := s.pool.Exec(ctx, qQuarantineDrop, ids)
	return tag.RowsAffected(), err
}

// Alias is a host events named for a configured registry.
type Alias struct {
	Registry            string
	Host                string
	FirstSeen, LastSeen time.Time
	Events              int64
}

// SeeAlias records that an event named host for registry; first is true
// the first time.
func (s *Store) SeeAlias(ctx context.Context, registry, host string) (first bool, err error) {
	err = s.pool.QueryRow(ctx, qAliasSeen, registry, host).Scan(&first)
	return first, err
}

// Aliases returns the hosts seen for each registry.
func (s *Store) Aliases(ctx context.Context) ([]Alias, error) {
	rows, err := s.pool.Query(ctx, qAliasList)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alias, error) {
		var a Alias
		err := r.Scan(&a.Registry, &a.Host, &a.FirstSeen, &a.LastSeen, &a.Events)
		return a, err
	})
}
