package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"

	"github.com/layerq/layerq/internal/telemetry"
)

// Names of the layer-scan stream, its subject and the scanners' consumer.
// Layer scans run off their own stream, so slow scans never hold up
// manifest ingest.
const (
	LayersName     = "LAYERQ_LAYERS"
	LayersSubject  = "layerq.layers"
	LayersConsumer = "layerq-layer-scanners"
	// A layer job still failing for a passing reason after
	// Settings.MaxDeliver deliveries waits out the outage on a stream of its
	// own, as events do on LAYERQ_DEFERRED.
	LayersDeferredName     = "LAYERQ_LAYERS_DEFERRED"
	LayersDeferredSubject  = "layerq.layers.deferred"
	LayersDeferredConsumer = "layerq-layer-scanners-deferred"
)

// LayerJob asks for one layer blob to be indexed.
type LayerJob struct {
	// Registry is the configured registry's name (older jobs: the host the
	// event named); either is a key of registries.Set.
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
	DiffID     string `json:"diff_id"`
	Size       int64  `json:"size"`
}

// EnsureLayers creates the layer-scan stream and consumer, or updates them to
// these settings. It is idempotent. The consumer redelivers a job until a
// scanner settles it.
func EnsureLayers(ctx context.Context, js jetstream.JetStream, s Settings) (jetstream.Consumer, error) {
	return ensure(ctx, js, s, -1, LayersName, "layerq layer blobs to index", LayersSubject, LayersConsumer, "layerq layer scanners")
}

// EnsureLayersDeferred creates the stream of layer jobs waiting out an
// outage, and its consumer, or updates them. It is idempotent.
func EnsureLayersDeferred(ctx context.Context, js jetstream.JetStream, s Settings) (jetstream.Consumer, error) {
	return ensure(ctx, js, s, -1, LayersDeferredName, "layerq layer blobs retried after an outage", LayersDeferredSubject, LayersDeferredConsumer, "layerq deferred layer scanners")
}

// DeferLayer stores a layer job's message on the deferred layer stream,
// with the headers it came with, and returns once JetStream acknowledged
// it.
func (p *Publisher) DeferLayer(ctx context.Context, j LayerJob, data []byte, header nats.Header, reason string) error {
	id := "deferred-layer:" + j.Registry + "/" + j.Repository + "@" + j.Digest
	if err := p.deferMsg(ctx, LayersDeferredSubject, LayersDeferredName, id, data, header, reason, attribute.String("layerq.digest", j.Digest)); err != nil {
		return fmt.Errorf("%w: deferring layer %s: %v", ErrUnavailable, j.Digest, err)
	}
	return nil
}

// publishTimeout bounds the wait for the stream's acknowledgements.
const publishTimeout = 30 * time.Second

// PublishLayers stores jobs on the layer-scan stream and returns once
// JetStream has acknowledged each. The message id is the repository and
// blob digest, so many pushes of one layer to a repository queue it once
// within the duplicate window, and a job that failed in one repository does
// not hide the layer pushed to another (the indexer skips a blob already
// indexed without fetching it).
func (p *Publisher) PublishLayers(ctx context.Context, jobs []LayerJob) (err error) {
	// All at once, then wait for every acknowledgement: the stream's fsyncs
	// overlap instead of adding up on the ingest path.
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	ctx, span := p.span(ctx, LayersSubject, attribute.Int("messaging.batch.message_count", len(jobs)))
	defer func() { telemetry.End(span, err) }()
	futures := make([]jetstream.PubAckFuture, 0, len(jobs))
	for _, j := range jobs {
		body, err := json.Marshal(j)
		if err != nil {
			return err
		}
		msg := &nats.Msg{Subject: LayersSubject, Data: body}
		telemetry.InjectMsg(ctx, msg)
		f, err := p.js.PublishMsgAsync(msg,
			jetstream.WithMsgID("layer:"+j.Registry+"/"+j.Repository+"@"+j.Digest), jetstream.WithExpectStream(LayersName))
		if err != nil {
			return fmt.Errorf("%w: publishing layer %s: %v", ErrUnavailable, j.Digest, err)
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("%w: publishing layer %s: %v", ErrUnavailable, jobs[i].Digest, err)
		case <-ctx.Done():
			return fmt.Errorf("%w: publishing layer %s: %v", ErrUnavailable, jobs[i].Digest, ctx.Err())
		}
	}
	return nil
}

// DecodeLayerJob reads a job from a layer-scan message body.
func DecodeLayerJob(data []byte) (LayerJob, error) {
	var j LayerJob
	if err := json.Unmarshal(data, &j); err != nil {
		return j, fmt.Errorf("decoding layer job: %w", err)
	}
	if j.Registry == "" || j.Repository == "" || j.Digest == "" || j.DiffID == "" {
		return j, fmt.Errorf("invalid layer job: registry, repository, digest and diff_id are required")
	}
	return j, nil
}
