package serve

import (
	"context"
	"time"

	"github.com/layerq/layerq/internal/alert"
)

// poke wakes whoever waits on c, unless it is woken already.
func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// alertStages make alerts after each fold (and every second, for folds
// made elsewhere: by another worker or a report), and send them: the
// sender is woken by the detector, and tries again every second what is
// due, so a slow receiver holds back no detection. Once an hour the
// alerts sent more than a week ago are forgotten.
func alertStages(cfg Config, st streams, wake <-chan struct{}) []stage {
	sinks := []alert.Sink{alert.NATS{JS: st.js}}
	for _, w := range cfg.Alerts.Webhooks {
		sinks = append(sinks, w)
	}
	names := make([]string, len(sinks))
	for i, s := range sinks {
		names[i] = s.Name()
	}
	det := &alert.Detector{DB: cfg.Pool, Rules: cfg.Alerts.Rules, Sinks: names, Telemetry: cfg.Telemetry}
	dis := &alert.Dispatcher{DB: cfg.Pool, Sinks: sinks, Log: cfg.Log, Telemetry: cfg.Telemetry}
	made := make(chan struct{}, 1)
	// every runs f when woken and every second, until ctx ends.
	every := func(ctx context.Context, wake <-chan struct{}, f func()) {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			case <-tick.C:
			}
			f()
		}
	}
	return []stage{
		{"alert detector", func(ctx context.Context) error {
			if err := alert.Observe(cfg.Telemetry.MeterFor(), cfg.Pool, 30*time.Second); err != nil {
				return err
			}
			every(ctx, wake, func() {
				n, err := det.Detect(ctx)
				if err != nil && ctx.Err() == nil {
					cfg.Log.Warn("alerts", "error", err)
				}
				if n > 0 {
					poke(made)
				}
			})
			return nil
		}},
		{"alert sender", func(ctx context.Context) error {
			var pruned time.Time
			every(ctx, made, func() {
				if _, err := dis.Dispatch(ctx); err != nil && ctx.Err() == nil {
					cfg.Log.Warn("sending alerts", "error", err)
				}
				if time.Since(pruned) > time.Hour {
					if _, err := alert.Prune(ctx, cfg.Pool, time.Now().Add(-7*24*time.Hour)); err == nil {
						pruned = time.Now()
					}
				}
			})
			return nil
		}},
	}
}
