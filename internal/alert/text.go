package alert

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/report"
)

// Text is an alert for people, as a chat message (Slack's mrkdwn).
func Text(a Alert) string {
	raw, _ := json.Marshal(a.Data)
	switch a.Type {
	case Subject(KindBaseMoved):
		var m BaseMoved
		if json.Unmarshal(raw, &m) != nil {
			break
		}
		return baseMovedText(m)
	case Subject(KindImageGrew):
		var g ImageGrew
		if json.Unmarshal(raw, &g) != nil {
			break
		}
		return imageGrewText(g)
	}
	return a.Type + " " + a.ID
}

func baseMovedText(m BaseMoved) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*Base moved:* `%s:%s` %s → %s (%s). %s in %s still on the old build",
		esc(m.Repository), esc(m.Tag), output.Digest(m.From).Short(), output.Digest(m.To).Short(), esc(platformList(m.Platforms)),
		output.Count(m.StaleImages, "image", "images"), output.Count(int64(m.StaleRepositories), "repository", "repositories"))
	for i, d := range m.Dependents {
		if i == 10 {
			fmt.Fprintf(&b, "\n• and %d more", m.StaleRepositories-10)
			break
		}
		fmt.Fprintf(&b, "\n• `%s`: %s", esc(d.Repository), output.Count(d.Images, "image", "images"))
	}
	return b.String()
}

func platformList(ps []PlatformMove) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Platform
	}
	return strings.Join(names, ", ")
}

func imageGrewText(g ImageGrew) string {
	var b strings.Builder
	name := g.Repository + ":" + g.Tag
	if g.StreamKind != report.StreamTag {
		name = g.Repository + " (latest build)"
	}
	fmt.Fprintf(&b, "*Image grew:* `%s` (%s) %s → %s, %s (%+.1f%%)", esc(name), esc(g.Platform),
		output.Bytes(g.FromBytes), output.Bytes(g.ToBytes), signedBytes(g.DeltaBytes), g.DeltaPercent)
	for _, c := range g.Causes {
		fmt.Fprintf(&b, "\n• %s: %s", esc(c.Text()), signedBytes(c.DeltaBytes))
		for _, p := range c.TopPaths {
			fmt.Fprintf(&b, "\n    `%s` %s", esc(p.Path), output.Bytes(p.Bytes))
		}
	}
	return b.String()
}

func signedBytes(n int64) string {
	if n < 0 {
		return "-" + output.Bytes(-n).String()
	}
	return "+" + output.Bytes(n).String()
}

// esc makes text from a registry (repository names, build steps, paths:
// what anyone who may push writes) plain in Slack's mrkdwn: its control
// characters escaped as Slack asks (&, <, >: no mention, no link), no
// backtick to end a code span, at most 200 characters.
func esc(s string) string {
	s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "`", "'").Replace(s)
	if r := []rune(s); len(r) > 200 {
		s = string(r[:199]) + "…"
	}
	return s
}
