package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/alert"
	"github.com/layerq/layerq/internal/clibytes"
	"github.com/layerq/layerq/internal/serve"
)

func alertFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "alert-grow-over", Value: cli.NewStringSlice("10MB", "10%"), EnvVars: []string{"LAYERQ_ALERT_GROW_OVER"},
			Usage: "alert on a push that grew by more than `BYTES|PERCENT` (50MB, 10%; given both, by more than each) against the push before it"},
		&cli.DurationFlag{Name: "alert-window", Value: time.Hour, Usage: "alert only on pushes at most `DURATION` old when compared (a backfill's old builds are not news)"},
		&cli.StringSliceFlag{Name: "alert-webhook", EnvVars: []string{"LAYERQ_ALERT_WEBHOOKS"}, Usage: "POST each alert's JSON to `URL`, signed with --alert-secret (repeat for several)"},
		&cli.StringSliceFlag{Name: "alert-slack", EnvVars: []string{"LAYERQ_ALERT_SLACK"}, Usage: "POST each alert as a Slack incoming webhook's text to `URL` (repeat for several)"},
		&cli.StringFlag{Name: "alert-secret", EnvVars: []string{"LAYERQ_ALERT_SECRET"}, Usage: "the `SECRET` alerts are signed with (Standard Webhooks: whsec_ and base64, or any text)"},
		&cli.BoolFlag{Name: "no-alerts", Usage: "make no alerts (neither on NATS nor to webhooks)"},
	}
}

// alertConfig reads the alert flags; nil with --no-alerts.
func alertConfig(c *cli.Context) (*serve.Alerts, error) {
	if c.Bool("no-alerts") {
		return nil, nil
	}
	rules := alert.DefaultRules()
	rules.GrowOverBytes, rules.GrowOverPercent = -1, -1
	for _, v := range c.StringSlice("alert-grow-over") {
		b, p, err := clibytes.ParseThreshold("alert-grow-over", v)
		if err != nil {
			return nil, err
		}
		if (b >= 0 && rules.GrowOverBytes >= 0) || (p >= 0 && rules.GrowOverPercent >= 0) {
			return nil, fmt.Errorf("--alert-grow-over: give at most one size and one percentage (got %q)", c.StringSlice("alert-grow-over"))
		}
		rules.GrowOverBytes, rules.GrowOverPercent = max(rules.GrowOverBytes, b), max(rules.GrowOverPercent, p)
	}
	if rules.Window = c.Duration("alert-window"); rules.Window <= 0 {
		return nil, errors.New("--alert-window must be above 0 (like 1h)")
	}
	out := &serve.Alerts{Rules: rules}
	secret := c.String("alert-secret")
	signer, err := alert.NewSigner(secret)
	if secret != "" && err != nil {
		return nil, fmt.Errorf("--alert-secret (or LAYERQ_ALERT_SECRET): %v; give whsec_ and base64, or any other text", err)
	}
	if secret == "" {
		signer = nil
	}
	client := &http.Client{Timeout: 10 * time.Second}
	seen := map[string]bool{}
	for _, kind := range []string{"alert-webhook", "alert-slack"} {
		for _, u := range c.StringSlice(kind) {
			if seen[u] {
				return nil, fmt.Errorf("--%s: a URL given twice (each alert is sent once to each URL)", kind)
			}
			seen[u] = true
			parsed, err := url.Parse(u)
			if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
				// The URL may hold a secret (Slack's does): not repeated.
				return nil, fmt.Errorf("--%s: give an http:// or https:// URL (one given is not)", kind)
			}
			if kind == "alert-webhook" && signer == nil {
				return nil, errors.New("--alert-webhook needs --alert-secret (or LAYERQ_ALERT_SECRET): receivers verify each alert's signature by it")
			}
			out.Webhooks = append(out.Webhooks, alert.Webhook{URL: u, Slack: kind == "alert-slack", Signer: signer, Client: client})
		}
	}
	return out, nil
}
