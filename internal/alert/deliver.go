package alert

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/layerq/layerq/internal/buildinfo"
	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/telemetry"
)

// Sink is somewhere alerts are sent.
type Sink interface {
	// Name names the sink in the outbox and in metrics; it holds no
	// secret.
	Name() string
	// Send delivers one alert (its JSON, a marshalled Alert). The same
	// alert may be sent again after a send whose outcome was not
	// recorded; its id stays the same.
	Send(ctx context.Context, a Alert, body []byte) error
}

// ErrPermanent marks a send that will not succeed if tried again (the
// receiver refused it: 4xx other than 408 and 429).
var ErrPermanent = errors.New("refused by the receiver")

// NATS publishes alerts on layerq.alerts.<kind>, stored by the alerts
// stream with the alert's id as the message id (a second send within the
// stream's duplicate window is dropped).
type NATS struct{ JS jetstream.JetStream }

func (NATS) Name() string { return "nats" }

func (n NATS) Send(ctx context.Context, a Alert, body []byte) error {
	_, err := n.JS.Publish(ctx, a.Type, body, jetstream.WithMsgID(a.ID), jetstream.WithExpectStream(stream.AlertsName))
	return err
}

// Webhook POSTs alerts to a URL: the alert's JSON, or with Slack set, a
// Slack incoming webhook's {"text": …}. With a secret, each request is
// signed as Standard Webhooks sign: webhook-id (the alert's id),
// webhook-timestamp and webhook-signature, an HMAC-SHA256 of
// "id.timestamp.body".
type Webhook struct {
	URL    string
	Slack  bool
	Signer *standardwebhooks.Webhook // nil: unsigned
	Client *http.Client
}

// NewSigner reads a signing secret: "whsec_" and base64, as Standard
// Webhooks give them, or any other text, used as the key's bytes.
func NewSigner(secret string) (*standardwebhooks.Webhook, error) {
	if len(secret) > len("whsec_") && secret[:len("whsec_")] == "whsec_" {
		return standardwebhooks.NewWebhook(secret)
	}
	return standardwebhooks.NewWebhookRaw([]byte(secret))
}

// Name is the URL's scheme and host, and a digest of the whole URL: a
// Slack URL's path is its secret.
func (w Webhook) Name() string {
	kind := "webhook"
	if w.Slack {
		kind = "slack"
	}
	u, err := url.Parse(w.URL)
	host := "?"
	if err == nil {
		host = u.Scheme + "://" + u.Host
	}
	sum := sha256.Sum256([]byte(w.URL))
	return kind + ":" + host + "#" + hex.EncodeToString(sum[:4])
}

func (w Webhook) Send(ctx context.Context, a Alert, body []byte) error {
	if w.Slack {
		var err error
		if body, err = json.Marshal(map[string]string{"text": Text(a)}); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "layerq/"+buildinfo.Read().Version)
	if w.Signer != nil {
		now := time.Now()
		sig, err := w.Signer.Sign(a.ID, now, body)
		if err != nil {
			return err
		}
		req.Header.Set(standardwebhooks.HeaderWebhookID, a.ID)
		req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
		req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	}
	client := w.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// Not the URL (a Slack URL's path is its secret): what failed.
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("POST to %s: %w", w.Name(), ue.Err)
		}
		return err
	}
	defer resp.Body.Close()
	reason, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return fmt.Errorf("%w: %s: %s", ErrPermanent, resp.Status, bytes.TrimSpace(reason))
	default:
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(reason))
	}
}

// Dispatcher sends the alerts waiting in the outbox to their sinks. Every
// worker process runs one, with the same sinks configured (an alert waits
// for the sinks of the process that made it): each takes the sends due
// for its sinks, claimed for a lease so that no other sender takes them
// meanwhile, and records each outcome as it comes.
type Dispatcher struct {
	DB    dbsqlc.DBTX
	Sinks []Sink
	// MaxAttempts bounds the sends of one alert to one webhook (then it
	// is given up, and counted as failed; NATS is tried until it takes
	// it); the delay between two doubles from a second up to MaxDelay.
	MaxAttempts int
	MaxDelay    time.Duration
	// Timeout bounds one send.
	Timeout   time.Duration
	Log       *slog.Logger
	Telemetry telemetry.Providers

	sent metric.Int64Counter
}

// batch is how many sends to one sink are claimed, and made at once.
const batch = 32

// Dispatch makes every send due now, each sink's apart (a slow receiver
// holds up no other sink), and says how many it made.
func (d *Dispatcher) Dispatch(ctx context.Context) (int, error) {
	if d.sent == nil {
		d.sent, _ = d.Telemetry.MeterFor().Int64Counter("layerq.alert.sends", metric.WithUnit("{send}"),
			metric.WithDescription("Sends of alerts to a sink, by sink and outcome (delivered, retry, failed)."))
	}
	var total atomic.Int64
	var errs = make([]error, len(d.Sinks))
	var wg sync.WaitGroup
	for i, sink := range d.Sinks {
		wg.Go(func() {
			for {
				n, err := d.dispatchBatch(ctx, sink)
				total.Add(int64(n))
				if err != nil || n < batch {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return int(total.Load()), errors.Join(errs...)
}

// dispatchBatch claims up to batch sends due to sink, makes them at once,
// and records each.
func (d *Dispatcher) dispatchBatch(ctx context.Context, sink Sink) (int, error) {
	timeout := cmp.Or(d.Timeout, 10*time.Second)
	due, err := queries.AlertClaim(ctx, d.DB, dbsqlc.AlertClaimParams{Sink: sink.Name(), N: batch, Lease: (timeout + time.Minute).Seconds()})
	if err != nil {
		return 0, fmt.Errorf("claiming the alerts due to %s: %w", sink.Name(), err)
	}
	errs := make([]error, len(due))
	var wg sync.WaitGroup
	for i, r := range due {
		wg.Go(func() {
			var sendErr error
			var a Alert
			if err := json.Unmarshal(r.Payload, &a); err != nil {
				sendErr = fmt.Errorf("%w: %v", ErrPermanent, err)
			} else {
				sctx, cancel := context.WithTimeout(ctx, timeout)
				sendErr = sink.Send(sctx, a, r.Payload)
				cancel()
			}
			// Recorded even as the process stops: a send made and not
			// recorded is made again.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			errs[i] = d.record(rctx, r, sendErr)
		})
	}
	wg.Wait()
	return len(due), errors.Join(errs...)
}

// record stores a send's outcome.
func (d *Dispatcher) record(ctx context.Context, r dbsqlc.AlertClaimRow, sendErr error) error {
	p := dbsqlc.AlertSentParams{AlertID: r.AlertID, Sink: r.Sink, NextAt: time.Now()}
	outcome := "delivered"
	switch {
	case sendErr == nil:
		p.Delivered = true
	case errors.Is(sendErr, ErrPermanent) || (r.Sink != (NATS{}).Name() && int(r.Attempts)+1 >= cmp.Or(d.MaxAttempts, 20)):
		p.Failed, outcome = true, "failed"
	default:
		outcome = "retry"
		p.NextAt = time.Now().Add(min(time.Second<<min(r.Attempts, 20), cmp.Or(d.MaxDelay, 10*time.Minute)))
	}
	if sendErr != nil {
		msg := sendErr.Error()
		p.LastError = &msg
		d.Log.Warn("alert not sent", "alert", r.Key, "sink", r.Sink, "attempt", r.Attempts+1, "outcome", outcome, "error", sendErr)
	}
	if err := queries.AlertSent(ctx, d.DB, p); err != nil {
		return fmt.Errorf("recording the send of alert %s: %w", r.Key, err)
	}
	d.sent.Add(ctx, 1, metric.WithAttributes(attribute.String("sink", r.Sink), attribute.String("outcome", outcome)))
	return nil
}

// Prune deletes the alerts made before before whose sends are all made
// or given up, and says how many.
func Prune(ctx context.Context, db dbsqlc.DBTX, before time.Time) (int64, error) {
	return queries.AlertPrune(ctx, db, before)
}

func sortDependents(ds []Dependent) {
	slices.SortStableFunc(ds, func(x, y Dependent) int {
		return cmp.Or(cmp.Compare(y.Images, x.Images), cmp.Compare(x.Repository, y.Repository), cmp.Compare(x.Registry, y.Registry))
	})
}
