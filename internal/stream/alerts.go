package stream

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The alerts stream keeps what layerq publishes on layerq.alerts.> (a base
// tag moved, an image grew) for a week, so a subscriber that was away can
// read back what it missed; a core NATS subscription on the subjects gets
// them as they are published too.
const (
	AlertsName          = "LAYERQ_ALERTS"
	AlertsSubjectPrefix = "layerq.alerts"
	alertsMaxAge        = 7 * 24 * time.Hour
)

// EnsureAlerts creates or updates the alerts stream. An alert sent again
// (its send was not recorded) carries the same message id and is stored
// once.
func EnsureAlerts(ctx context.Context, js jetstream.JetStream, s Settings) error {
	s.Defaults()
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        AlertsName,
		Description: "layerq alerts: base tags moved, images grew",
		Subjects:    []string{AlertsSubjectPrefix + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      alertsMaxAge,
		Replicas:    s.Replicas,
		Duplicates:  s.Duplicates,
		Discard:     jetstream.DiscardOld,
	})
	if err != nil {
		return fmt.Errorf("creating stream %s: %w", AlertsName, err)
	}
	return nil
}
