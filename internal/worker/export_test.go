package worker

import "github.com/layerq/layerq/internal/webhook"

// SetAfterCommit installs the hook that runs between commit and ack.
func SetAfterCommit(o *Options, f func(webhook.Event) bool) { o.afterCommit = f }
