// Package alert tells the outside world what changed in the registry: a
// base tag that moved (the images built on its old build are now stale),
// and a push that grew its image over a threshold, with the cause the
// growth report gives.
//
// The Detector reads the comparisons the fold makes into an outbox in
// Postgres, once each, by a key made of what the alert is about; the
// Dispatcher sends each alert to every sink (the NATS subjects
// layerq.alerts.base_moved and layerq.alerts.image_grew, webhooks in JSON
// or Slack's form), signed as Standard Webhooks sign (webhook-id,
// webhook-timestamp, webhook-signature), and tries again with a growing
// delay until a sink takes it. Observe exposes the images on stale base
// builds and each repository's last growth as metrics, for Alertmanager.
package alert

import (
	"time"

	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/stream"
)

// The kinds of alerts.
const (
	KindBaseMoved = "base_moved"
	KindImageGrew = "image_grew"
)

// Subject is where alerts of kind are published on NATS.
func Subject(kind string) string { return stream.AlertsSubjectPrefix + "." + kind }

// Alert is what every sink is sent, as JSON (the Standard Webhooks
// payload's shape): the alert's id (the same on every send of it), its
// type (the NATS subject), when it happened, and its data, a BaseMoved or
// an ImageGrew.
type Alert struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// BaseMoved is a base tag pushed over a build that other images are built
// on: those images are stale until rebuilt.
type BaseMoved struct {
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	// From and To are the digests the tag named before and after (an
	// index or an image).
	From      string         `json:"from"`
	To        string         `json:"to"`
	Platforms []PlatformMove `json:"platforms"`
	// StaleImages counts the live images built on the old builds, in
	// StaleRepositories repositories; Dependents lists the repositories,
	// most images first (at most MaxDependents).
	StaleImages       int64       `json:"stale_images"`
	StaleRepositories int         `json:"stale_repositories"`
	Dependents        []Dependent `json:"dependents"`
}

// PlatformMove is one platform's build before and after a base tag moved.
type PlatformMove struct {
	Platform string `json:"platform"`
	From     string `json:"from"`
	To       string `json:"to"`
}

// Dependent is a repository with images on a base's old build.
type Dependent struct {
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Images     int64  `json:"images"`
}

// MaxDependents bounds the repositories a BaseMoved lists (StaleImages
// and StaleRepositories count them all).
const MaxDependents = 100

// ImageGrew is a push that grew its image over the thresholds: the
// growth report's push, its causes adding up to its growth.
type ImageGrew struct {
	report.GrowthPush
	Threshold Threshold `json:"threshold"`
}

// Threshold is what a push must grow by to be alerted on: more than
// Bytes compressed bytes and more than Percent of the push before (-1:
// not asked).
type Threshold struct {
	Bytes   int64   `json:"bytes"`
	Percent float64 `json:"percent"`
}

// growthRow is an AlertGrowth row as the growth report reads it.
func growthRow(r dbsqlc.AlertGrowthRow) dbsqlc.GrowthPushesRow {
	return dbsqlc.GrowthPushesRow{ID: r.ID, Registry: r.Registry, Repository: r.Repository, StreamKind: r.StreamKind, Stream: r.Stream,
		Platform: r.Platform, FromDigest: r.FromDigest, ToDigest: r.ToDigest, OccurredAt: r.OccurredAt, FromBytes: r.FromBytes,
		ToBytes: r.ToBytes, BaseMoved: r.BaseMoved, BaseFrom: r.BaseFrom, BaseTo: r.BaseTo}
}
