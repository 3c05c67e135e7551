// Package dashboards holds layerq's Grafana dashboards (*.json) and the
// provisioning files that load them (provisioning/): datasources for the
// graph's Postgres, read as layerq_reader, and for Prometheus scraping
// layerq's /metrics. Its tests run every panel's query against a seeded
// graph and a real Prometheus.
package dashboards

import "embed"

// Files are the dashboards and the provisioning files.
//
//go:embed *.json provisioning
var Files embed.FS
