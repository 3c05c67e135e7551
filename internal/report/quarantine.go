package report

import (
	"encoding/json"
	"time"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/output"
)

// QuarantineList is the quarantined items as `layerq-ingest quarantine
// list` prints them.
type QuarantineList struct {
	Items []QuarantineEntry `json:"items"`
}

// QuarantineEntry is one item of a QuarantineList.
type QuarantineEntry struct {
	ID         string    `json:"id"`
	ReceivedAt time.Time `json:"received_at"`
	Source     string    `json:"source"`
	Registry   string    `json:"registry"`
	Reason     string    `json:"reason"`
	Seen       int       `json:"seen"`
	Replayed   bool      `json:"replayed"`
	Detail     string    `json:"detail"`
}

// NewQuarantineList lists qs.
func NewQuarantineList(qs []graph.Quarantined) QuarantineList {
	out := QuarantineList{Items: make([]QuarantineEntry, 0, len(qs))}
	for _, q := range qs {
		out.Items = append(out.Items, QuarantineEntry{ID: q.ID, ReceivedAt: q.ReceivedAt, Source: q.Source, Registry: q.Registry, Reason: string(q.Reason),
			Seen: q.Seen, Replayed: !q.ReplayedAt.IsZero(), Detail: q.Detail})
	}
	return out
}

// Columns implements output.Table.
func (l QuarantineList) Columns() []output.Column {
	return []output.Column{{Key: "id"}, {Key: "received_at", Title: "RECEIVED"}, {Key: "source"}, {Key: "registry"},
		{Key: "reason"}, {Key: "replayed", Wide: true}, {Key: "seen"}, {Key: "detail"}}
}

// Rows implements output.Table.
func (l QuarantineList) Rows() [][]any {
	rows := make([][]any, 0, len(l.Items))
	for _, it := range l.Items {
		reason := it.Reason
		if it.Replayed {
			reason += " (replayed)"
		}
		rows = append(rows, []any{output.Digest(it.ID), it.ReceivedAt, it.Source, it.Registry, reason, it.Replayed, it.Seen, it.Detail})
	}
	return rows
}

// QuarantineItem is one item whole, as `quarantine show` prints it: the
// data as JSON when it is JSON, else as text.
type QuarantineItem struct {
	graph.Quarantined
	Data       json.RawMessage `json:"data,omitempty"`
	DataText   string          `json:"data_text,omitempty"`
	Seen       int             `json:"seen"`
	ReplayedAt *time.Time      `json:"replayed_at,omitempty"`
	ReplayNote string          `json:"replay_note,omitempty"`
}

// NewQuarantineItem shows q.
func NewQuarantineItem(q graph.Quarantined) QuarantineItem {
	s := QuarantineItem{Quarantined: q, Seen: q.Seen, ReplayNote: q.ReplayNote}
	if json.Valid(q.Data) {
		s.Data = q.Data
	} else {
		s.DataText = string(q.Data)
	}
	if !q.ReplayedAt.IsZero() {
		s.ReplayedAt = &q.ReplayedAt
	}
	return s
}

// AliasList is the hosts events named for each registry that its
// configuration does not list (`layerq-ingest aliases`).
type AliasList struct {
	Aliases []AliasEntry `json:"aliases"`
}

// AliasEntry is one host of an AliasList.
type AliasEntry struct {
	Registry  string    `json:"registry"`
	Host      string    `json:"host"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Events    int64     `json:"events"`
}

// NewAliasList lists as.
func NewAliasList(as []graph.Alias) AliasList {
	l := AliasList{Aliases: []AliasEntry{}}
	for _, a := range as {
		l.Aliases = append(l.Aliases, AliasEntry{Registry: a.Registry, Host: a.Host, FirstSeen: a.FirstSeen, LastSeen: a.LastSeen, Events: a.Events})
	}
	return l
}

// Columns implements output.Table.
func (l AliasList) Columns() []output.Column {
	return output.Cols("registry", "host", "first_seen", "last_seen", "events")
}

// Rows implements output.Table.
func (l AliasList) Rows() [][]any {
	rows := make([][]any, 0, len(l.Aliases))
	for _, a := range l.Aliases {
		rows = append(rows, []any{a.Registry, a.Host, a.FirstSeen, a.LastSeen, a.Events})
	}
	return rows
}
