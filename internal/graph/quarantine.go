package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/quarantine"
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
	return queries.QuarantineInsert(ctx, s.pool, dbsqlc.QuarantineInsertParams{
		ID:         it.ID,
		Source:     it.Source,
		Registry:   it.Registry,
		Reason:     string(it.Reason),
		Detail:     it.Detail,
		Kind:       it.Kind,
		Data:       it.Data,
		Header:     header, // nil: NULL
		ReceivedAt: it.ReceivedAt,
	})
}

// quarantined is a row of quarantine_list or quarantine_get (the same
// columns) as a Quarantined.
func quarantined(r dbsqlc.QuarantineListRow) (Quarantined, error) {
	q := Quarantined{
		Item: quarantine.Item{
			ID:         r.ID,
			Source:     r.Source,
			Registry:   r.Registry,
			Reason:     quarantine.Reason(r.Reason),
			Detail:     r.Detail,
			Kind:       r.Kind,
			Data:       r.Data,
			ReceivedAt: r.ReceivedAt,
		},
		Seen:       int(r.Seen),
		ReplayNote: r.ReplayNote,
	}
	if len(r.Header) > 0 {
		if err := json.Unmarshal(r.Header, &q.Header); err != nil {
			return q, fmt.Errorf("quarantine item %s: header: %w", q.ID, err)
		}
	}
	if r.ReplayedAt != nil {
		q.ReplayedAt = *r.ReplayedAt
	}
	return q, nil
}

// ListQuarantine returns the quarantined items, oldest first; with all,
// the replayed ones too.
func (s *Store) ListQuarantine(ctx context.Context, all bool) ([]Quarantined, error) {
	rows, err := queries.QuarantineList(ctx, s.pool, all)
	if err != nil {
		return nil, err
	}
	var out []Quarantined
	for _, r := range rows {
		q, err := quarantined(r)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
}

// ErrAmbiguous means an id prefix names more than one item.
var ErrAmbiguous = errors.New("ambiguous")

// GetQuarantine returns the item with id, or the one item whose id starts
// with it: ErrNotFound when none, ErrAmbiguous when several.
func (s *Store) GetQuarantine(ctx context.Context, id string) (Quarantined, error) {
	rows, err := queries.QuarantineGet(ctx, s.pool, id)
	if err != nil {
		return Quarantined{}, err
	}
	var out []Quarantined
	for _, r := range rows {
		q, err := quarantined(dbsqlc.QuarantineListRow(r))
		if err != nil {
			return Quarantined{}, err
		}
		out = append(out, q)
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
	return queries.QuarantineReplayed(ctx, s.pool, dbsqlc.QuarantineReplayedParams{ID: id, Done: done, Note: note})
}

// DropQuarantine deletes items; it returns how many it deleted.
func (s *Store) DropQuarantine(ctx context.Context, ids []string) (int64, error) {
	return queries.QuarantineDrop(ctx, s.pool, ids)
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
	first, err = queries.AliasSeen(ctx, s.pool, dbsqlc.AliasSeenParams{Registry: registry, Host: host})
	return first, dbsqlc.Interpret(err)
}

// Aliases returns the hosts seen for each registry.
func (s *Store) Aliases(ctx context.Context) ([]Alias, error) {
	rows, err := queries.AliasList(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	out := make([]Alias, 0, len(rows)) // never nil, as before sqlc
	for _, r := range rows {
		out = append(out, Alias{Registry: r.Registry, Host: r.Host, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen, Events: r.Events})
	}
	return out, nil
}
