package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
)

// The live path never stalls on what layerq cannot use. The CNCF
// distribution registry notifies its own endpoint of a `serve` that knows
// two registries; pushes reach the registry through a name layerq was not
// told (localhost), then through the configured one. A forged envelope
// holds a good event, a malformed one and one of an unknown host. Every
// answer is 200: the good events are in the graph, the others in the
// quarantine, the alias is recorded, the registry's queue keeps flowing
// (the last push arrives), and after the configuration is fixed a replay
// applies what can be applied and leaves the rest.
func TestLivePathNeverStalls(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	port := freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	reg := registrytest.NewNotifyingDistribution(t, base+"/webhooks/distribution/main", "s3cret")
	_, regPort, _ := strings.Cut(reg.Host, ":")
	dir := t.TempDir()
	writeRegistries := func(file, aliases string) string {
		path := filepath.Join(dir, file)
		body := fmt.Sprintf("registries:\n  - name: main\n    host: %s\n    aliases: [%s]\n  - name: other\n    host: 127.0.0.1:1\n", reg.Host, aliases)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	regsFile := writeRegistries("registries.yaml", "")

	ctx, stop := context.WithCancel(context.Background())
	var out, errOut syncBuffer // serve writes while the test reads
	dataDir := t.TempDir()
	served := make(chan error, 1)
	go func() {
		served <- clierr.Run(ctx, newApp(&out, &errOut), []string{"layerq-ingest",
			"--database-url", dbURL, "--data-dir", dataDir,
			"serve", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--registries-file", regsFile, "--webhook-token", "s3cret", "--no-layer-scan"})
	}()
	stopServe := func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v\n%s", err, errOut.String())
		}
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			stopServe()
		}
	})
	waitReady(t, base+"/readyz")

	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	tagged := func(repo, tag, digest string) func() bool {
		return func() bool {
			return count(`SELECT count(*) FROM tags t JOIN repositories r ON r.id = t.repository_id
				WHERE r.registry = 'main' AND r.name = $1 AND t.name = $2 AND t.manifest_digest = $3 AND t.deleted_at IS NULL`, repo, tag, digest) == 1
		}
	}
	push := func(host, repo, content string) string {
		t.Helper()
		img, err := sample.Build(sample.Spec{Format: sample.OCI, Steps: []sample.Step{{CreatedBy: "RUN " + content, Files: []sample.File{{Path: content, Content: []byte(content)}}}}})
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(host+"/"+repo, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		return d.String()
	}

	// Pushed through another name of the registry: its own endpoint says
	// it is main's.
	localhost := "localhost:" + regPort
	one := push(localhost, "block/one:1", "one")
	waitFor(t, "the push through localhost in the graph", tagged("block/one", "1", one))

	// A forged envelope on the shared endpoint: one good event, one
	// malformed, one naming a host neither registry lists.
	event := func(id, host, repo, tag, digest string) map[string]any {
		return map[string]any{"id": id, "timestamp": "2026-12-03T10:00:00Z", "action": "push",
			"target": map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "repository": repo, "tag": tag,
				"url": "http://" + host + "/v2/" + repo + "/manifests/" + digest},
			"request": map[string]any{"host": host}}
	}
	envelope, _ := json.Marshal(map[string]any{"events": []any{
		event("forged-good", reg.Host, "block/one", "g1", one),
		event("forged-bad", reg.Host, "Block/One", "g2", one),
		event("forged-unknown", "registry.example:5000", "block/one", "g3", one),
	}})
	req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/distribution", bytes.NewReader(envelope))
	req.Header.Set("Authorization", "Bearer s3cret")
	req.Header.Set("Content-Type", "application/vnd.docker.distribution.events.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ans struct {
		Published, Duplicates, Ignored, Quarantined int
		Reasons                                     []string
	}
	if err := json.Unmarshal(answer, &ans); err != nil || resp.StatusCode != 200 || ans.Published != 1 || ans.Duplicates != 0 || ans.Ignored != 0 || ans.Quarantined != 2 ||
		len(ans.Reasons) != 2 || !strings.HasPrefix(ans.Reasons[0], `unknown_registry: registry not configured: "registry.example:5000"`) ||
		ans.Reasons[1] != `malformed_event: distribution: event 1 (push): invalid repository name "Block/One"` {
		t.Fatalf("forged envelope: %d %s", resp.StatusCode, answer)
	}

	// The registry's queue flows: a push through the configured name
	// arrives after all that.
	two := push(reg.Host, "block/two:1", "two")
	waitFor(t, "the good forged event in the graph", tagged("block/one", "g1", one))
	waitFor(t, "the last push in the graph", tagged("block/two", "1", two))
	waitFor(t, "both items in the quarantine table", func() bool { return count(`SELECT count(*) FROM quarantine`) == 2 })
	if n := count(`SELECT count(*) FROM registry_aliases WHERE registry = 'main' AND host = $1`, localhost); n != 1 {
		t.Fatalf("alias rows for %s = %d, want 1", localhost, n)
	}
	if n := count(`SELECT count(*) FROM ingest_failures`); n != 0 {
		t.Fatalf("%d failures recorded", n)
	}
	if !strings.Contains(errOut.String(), "registry reached through another name") || !strings.Contains(errOut.String(), localhost) {
		t.Errorf("no log line for the alias:\n%s", errOut.String())
	}
	stopServe()
	stopped = true

	run := func(args ...string) (string, error) {
		t.Helper()
		var o, e bytes.Buffer
		err := clierr.Run(context.Background(), newApp(&o, &e), append([]string{"layerq-ingest", "--database-url", dbURL}, args...))
		return o.String(), err
	}
	got, err := run("aliases", "-o", "json")
	var aliases struct {
		Aliases []struct {
			Registry, Host string
			Events         int
		}
	}
	if err != nil || json.Unmarshal([]byte(got), &aliases) != nil || len(aliases.Aliases) != 1 ||
		aliases.Aliases[0].Registry != "main" || aliases.Aliases[0].Host != localhost || aliases.Aliases[0].Events != 1 {
		t.Fatalf("aliases: %v\n%s", err, got)
	}
	got, err = run("quarantine", "list", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []struct{ ID, Reason, Detail string }
	}
	if err := json.Unmarshal([]byte(got), &list); err != nil {
		t.Fatalf("%v: %s", err, got)
	}
	reasons := map[string]string{}
	for _, it := range list.Items {
		reasons[it.Reason] = it.ID
	}
	if len(list.Items) != 2 || reasons["malformed_event"] == "" || reasons["unknown_registry"] == "" {
		t.Fatalf("quarantine list: %s", got)
	}
	got, err = run("quarantine", "show", reasons["unknown_registry"][:10])
	if err != nil || !strings.Contains(got, `"forged-unknown"`) || !strings.Contains(got, "registry.example:5000") {
		t.Fatalf("quarantine show: %v\n%s", err, got)
	}

	// Fixed: the unknown host is an alias of main. The replay applies it,
	// and leaves the malformed event, saying so.
	fixed := writeRegistries("fixed.yaml", "registry.example:5000")
	got, err = run("quarantine", "replay", "--all", "--registries-file", fixed)
	if err == nil || !strings.Contains(err.Error(), "1 items still cannot be used") || !strings.Contains(got, "replayed 1 items (1 events applied), 1 left in quarantine") {
		t.Fatalf("replay: %v\n%s", err, got)
	}
	if !tagged("block/one", "g3", one)() {
		t.Fatal("the replayed event is not in the graph")
	}
	got, err = run("quarantine", "list", "-o", "json")
	if err != nil || strings.Count(got, `"id":`) != 1 || !strings.Contains(got, "malformed_event") {
		t.Fatalf("after the replay: %v\n%s", err, got)
	}
	if got, err = run("quarantine", "drop", reasons["malformed_event"]); err != nil || got != "dropped 1 items\n" {
		t.Fatalf("drop: %v %q", err, got)
	}
	if n := count(`SELECT count(*) FROM quarantine WHERE replayed_at IS NULL`); n != 0 {
		t.Fatalf("%d items left", n)
	}
}
