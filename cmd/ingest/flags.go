package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/receiver"
	"github.com/layerq/layerq/internal/registries"
)

// loadRegistries reads --registry or --registries-file.
func loadRegistries(c *cli.Context) (*registries.Set, error) {
	if f := c.String("registries-file"); f != "" {
		if len(c.StringSlice("registry")) > 0 {
			return nil, errors.New("give registries with --registry or --registries-file, not both")
		}
		return registries.Load(f)
	}
	var regs []registries.Registry
	for _, h := range c.StringSlice("registry") {
		for _, h := range strings.Split(h, ",") {
			if h = strings.TrimSpace(h); h != "" {
				regs = append(regs, registries.Registry{Host: h, Insecure: c.Bool("insecure")})
			}
		}
	}
	if len(regs) == 0 {
		return nil, fmt.Errorf("%s needs the registries it may fetch from: --registry HOST[:PORT] (or --registries-file FILE)", commandPath(c))
	}
	return registries.New(regs)
}

// webhookCredentials reads --webhook-token and --webhook-basic (see
// receiver.AddToken and AddBasic). The values are secrets: an error says
// which one is wrong, never what it holds.
func webhookCredentials(c *cli.Context) (map[string]receiver.Credentials, error) {
	out := map[string]receiver.Credentials{}
	for i, v := range c.StringSlice("webhook-token") {
		if err := receiver.AddToken(out, v); err != nil {
			return nil, fmt.Errorf("--webhook-token (or LAYERQ_WEBHOOK_TOKENS) value %d %w", i+1, err)
		}
	}
	for i, v := range c.StringSlice("webhook-basic") {
		if err := receiver.AddBasic(out, v); err != nil {
			return nil, fmt.Errorf("--webhook-basic (or LAYERQ_WEBHOOK_BASIC) value %d %w", i+1, err)
		}
	}
	return out, nil
}

// commandPath names the command c runs, as a user types it after the
// program's name ("serve", "quarantine replay").
func commandPath(c *cli.Context) string {
	return strings.TrimPrefix(c.Command.HelpName, c.App.Name+" ")
}
