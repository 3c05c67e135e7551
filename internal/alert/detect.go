package alert

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/telemetry"
)

var queries = dbsqlc.New()

// TxBeginner is the database the detector writes its outbox to.
type TxBeginner interface {
	dbsqlc.DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Rules say what is alerted on.
type Rules struct {
	// GrowOverBytes and GrowOverPercent: a push is alerted on when it grew
	// by more than both (-1: that one is not asked).
	GrowOverBytes   int64
	GrowOverPercent float64
	// Window: a tag's push older than this when the detector sees it is
	// not alerted on, nor a build layerq first saw longer ago than this,
	// or built longer than this before it was first seen (a backfill's
	// old builds).
	Window time.Duration
	// TopPaths is how many of the largest files of each step's new
	// layers a growth alert names.
	TopPaths int
}

// DefaultRules alert on a push that grew by more than 10 MB and 10%,
// within an hour of it.
func DefaultRules() Rules {
	return Rules{GrowOverBytes: 10_000_000, GrowOverPercent: 10, Window: time.Hour, TopPaths: 3}
}

// Detector turns the comparisons the fold made since it last looked into
// alerts, each waiting for a send to every sink.
type Detector struct {
	DB    TxBeginner
	Rules Rules
	// Sinks are the names of the sinks each new alert waits for.
	Sinks     []string
	Telemetry telemetry.Providers
	// PageSize is how many comparisons one transaction looks at (0:
	// 2000), a tag push's platforms all in one.
	PageSize int

	made    metric.Int64Counter
	started bool // the cursor exists
}

// Detect looks at every comparison made since the last call (by any
// process: the cursor is in the database, locked while it moves) and says
// how many alerts it made. The first call ever starts at the comparisons
// made after it.
func (d *Detector) Detect(ctx context.Context) (int, error) {
	if d.made == nil {
		d.made, _ = d.Telemetry.MeterFor().Int64Counter("layerq.alerts", metric.WithUnit("{alert}"),
			metric.WithDescription("Alerts made, by kind (each is then sent to every sink)."))
	}
	if !d.started {
		if err := queries.AlertCursorInit(ctx, d.DB); err != nil {
			return 0, fmt.Errorf("starting the alerts' cursor: %w", err)
		}
		d.started = true
	}
	// Most calls find nothing new: a look without a transaction or a lock.
	if ahead, err := queries.AlertCursorPeek(ctx, d.DB); err != nil || !ahead {
		if err != nil {
			return 0, fmt.Errorf("looking for comparisons made: %w", err)
		}
		return 0, nil
	}
	total := 0
	for {
		n, more, err := d.page(ctx)
		total += n
		if err != nil || !more {
			return total, err
		}
	}
}

// page makes the alerts of the next page of comparisons and moves the
// cursor past them, in one transaction.
func (d *Detector) page(ctx context.Context) (made int, more bool, err error) {
	var kinds []string // of the alerts made, counted once committed
	err = pgx.BeginFunc(ctx, d.DB, func(tx pgx.Tx) error {
		made, more, kinds = 0, false, kinds[:0]
		after, err := queries.AlertCursorLock(ctx, tx)
		if err != nil {
			return fmt.Errorf("locking the alerts' cursor: %w", err)
		}
		upto, err := queries.AlertTransitionsUpTo(ctx, tx, dbsqlc.AlertTransitionsUpToParams{After: after, N: int32(cmp.Or(d.PageSize, 2000))})
		if err != nil {
			return fmt.Errorf("reading the comparisons made: %w", err)
		}
		if upto == after {
			return nil
		}
		more = true
		since := time.Now().Add(-d.Rules.Window)
		alerts, err := d.baseMoves(ctx, tx, after, upto, since)
		if err != nil {
			return err
		}
		grew, err := d.growth(ctx, tx, after, upto, since)
		if err != nil {
			return err
		}
		for _, a := range append(alerts, grew...) {
			body, err := json.Marshal(a)
			if err != nil {
				return err
			}
			kind := strings.TrimPrefix(a.Type, Subject("")) // the subject's last token
			ids, err := queries.AlertInsert(ctx, tx, dbsqlc.AlertInsertParams{Key: a.ID, Kind: kind, Payload: body})
			if err != nil {
				return fmt.Errorf("storing alert %s: %w", a.ID, err)
			}
			if len(ids) == 0 {
				continue // made before
			}
			if err := queries.AlertDeliveriesInsert(ctx, tx, dbsqlc.AlertDeliveriesInsertParams{AlertID: ids[0], Sinks: d.Sinks}); err != nil {
				return fmt.Errorf("queueing alert %s: %w", a.ID, err)
			}
			made++
			kinds = append(kinds, kind)
		}
		if err := queries.AlertCursorSet(ctx, tx, upto); err != nil {
			return fmt.Errorf("moving the alerts' cursor: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	for _, k := range kinds {
		d.made.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", k)))
	}
	return made, more, nil
}

// baseMoves are the tag moves off a build images are built on, one alert
// per move (all its platforms).
func (d *Detector) baseMoves(ctx context.Context, tx pgx.Tx, after, upto int64, since time.Time) ([]Alert, error) {
	rows, err := queries.AlertBaseMoves(ctx, tx, dbsqlc.AlertBaseMovesParams{After: after, Upto: upto, Since: since})
	if err != nil {
		return nil, fmt.Errorf("reading base tags moved: %w", err)
	}
	var out []Alert
	var cur *BaseMoved
	var at time.Time
	type repo struct{ registry, name string }
	var index map[repo]int
	platforms := map[string]bool{}
	flush := func() {
		if cur == nil {
			return
		}
		cur.StaleRepositories = len(cur.Dependents)
		sortDependents(cur.Dependents)
		if len(cur.Dependents) > MaxDependents {
			cur.Dependents = cur.Dependents[:MaxDependents]
		}
		out = append(out, Alert{ID: alertID(KindBaseMoved, cur.Registry, cur.Repository, cur.Tag, cur.From, cur.To, at.UTC().Format(time.RFC3339Nano)),
			Type: Subject(KindBaseMoved), Timestamp: at.UTC(), Data: cur})
	}
	var event int64 = -1
	for _, r := range rows {
		if r.TagEventID != event {
			flush()
			event, at = r.TagEventID, r.OccurredAt
			cur = &BaseMoved{Registry: r.BaseRegistry, Repository: r.BaseRepository, Tag: r.BaseTag, From: r.TagFrom, To: r.TagTo,
				Platforms: []PlatformMove{}, Dependents: []Dependent{}}
			index = map[repo]int{}
			clear(platforms)
		}
		if !platforms[r.Platform] {
			platforms[r.Platform] = true
			cur.Platforms = append(cur.Platforms, PlatformMove{Platform: r.Platform, From: r.FromDigest, To: r.ToDigest})
		}
		k := repo{r.Registry, r.Repository}
		i, ok := index[k]
		if !ok {
			i = len(cur.Dependents)
			index[k] = i
			cur.Dependents = append(cur.Dependents, Dependent{Registry: r.Registry, Repository: r.Repository})
		}
		cur.Dependents[i].Images += r.Images
		cur.StaleImages += r.Images
	}
	flush()
	return out, nil
}

// growth are the pushes that grew over the thresholds, each with its
// causes.
func (d *Detector) growth(ctx context.Context, tx pgx.Tx, after, upto int64, since time.Time) ([]Alert, error) {
	rows, err := queries.AlertGrowth(ctx, tx, dbsqlc.AlertGrowthParams{After: after, Upto: upto, Since: since,
		WindowSeconds: d.Rules.Window.Seconds(), OverBytes: max(d.Rules.GrowOverBytes, 0), OverPercent: d.Rules.GrowOverPercent})
	if err != nil {
		return nil, fmt.Errorf("reading pushes that grew: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	in := make([]dbsqlc.GrowthPushesRow, len(rows))
	for i, r := range rows {
		in[i] = growthRow(r)
	}
	pushes, err := report.GrowthPushes(ctx, tx, in, d.Rules.TopPaths)
	if err != nil {
		return nil, err
	}
	out := make([]Alert, len(pushes))
	for i, p := range pushes {
		// A tag's push is one event; a created stream's comparison is its
		// two builds, whenever the fold makes it.
		id := alertID(KindImageGrew, p.Registry, p.Repository, p.StreamKind, p.Tag, p.Platform, p.From, p.To)
		if p.StreamKind == report.StreamTag {
			id = alertID(KindImageGrew, p.Registry, p.Repository, p.StreamKind, p.Tag, p.Platform, p.From, p.To, p.At.Format(time.RFC3339Nano))
		}
		out[i] = Alert{ID: id, Type: Subject(KindImageGrew), Timestamp: p.At,
			Data: ImageGrew{GrowthPush: p, Threshold: Threshold{Bytes: d.Rules.GrowOverBytes, Percent: d.Rules.GrowOverPercent}}}
	}
	return out, nil
}

// alertID is an alert's id: made of what it is about, so the same alert
// made again (by another process, from a comparison made again) has the
// same id, in any database.
func alertID(kind string, parts ...string) string {
	h := sha256.New()
	for _, p := range append([]string{kind}, parts...) {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return kind + "_" + hex.EncodeToString(h.Sum(nil)[:12])
}
