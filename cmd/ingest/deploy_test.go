package main

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"flag"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/jackc/pgx/v5"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"

	"github.com/layerq/layerq/internal/redact"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/promtest"
)

// root is the repository's top directory.
const root = "../.."

// composeFile is the part of compose.yaml the test reads.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       string            `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		DependsOn   yaml.Node         `yaml:"depends_on"`
		Configs     []struct{ Source, Target string }
	} `yaml:"services"`
	Configs map[string]struct {
		Content string `yaml:"content"`
	} `yaml:"configs"`
	Volumes map[string]any `yaml:"volumes"`
}

// composeEnv is what a user's .env holds.
var composeEnv = map[string]string{
	"LAYERQ_WEBHOOK_TOKEN":          "webhook-token-1",
	"LAYERQ_DB_PASSWORD":            "db-password-1",
	"LAYERQ_GRAFANA_DB_PASSWORD":    "grafana-password-1",
	"LAYERQ_INGEST_DB_PASSWORD":     "ingest-password-1",
	"LAYERQ_GRAFANA_ADMIN_PASSWORD": "grafana-admin-password-1",
	// All digits: nats-server must still read it as a string.
	"LAYERQ_NATS_PASSWORD": "20260512",
}

// pinnedImage is an image reference with its tag and digest.
var pinnedImage = regexp.MustCompile(`^[^@\s]+:[^@:/\s]+@sha256:[0-9a-f]{64}$`)

var interpolation = regexp.MustCompile(`\$\{([A-Z0-9_]+)(?::([?-])([^}]*))?\}`)

// interpolate does what compose does to ${VAR}, ${VAR:-default} and
// ${VAR:?error} with composeEnv.
func interpolate(t *testing.T, s string) string {
	return interpolation.ReplaceAllStringFunc(s, func(m string) string {
		g := interpolation.FindStringSubmatch(m)
		if v, ok := composeEnv[g[1]]; ok {
			return v
		}
		if g[2] == "-" {
			return g[3]
		}
		t.Errorf("compose.yaml needs %s, which .env does not set", g[1])
		return ""
	})
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	return parseCompose(t, interpolate)
}

// parseCompose reads compose.yaml, its variables replaced by interp.
func parseCompose(t *testing.T, interp func(*testing.T, string) string) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal([]byte(interp(t, string(b))), &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return c
}

// hostPath maps a path inside a container to the repository's file that
// volumes mounts there; other values are returned as they are.
func hostPath(v string, volumes []string) string {
	for _, vol := range volumes {
		if src, dst, ok := strings.Cut(strings.TrimSuffix(vol, ":ro"), ":"); ok && v == dst {
			return filepath.Join(root, src)
		}
	}
	return v
}

// dependsOn lists a service's depends_on, in either of compose's forms.
func dependsOn(t *testing.T, n yaml.Node) []string {
	var list []string
	if n.Kind == 0 {
		return nil
	}
	if err := n.Decode(&list); err == nil {
		return list
	}
	var m map[string]any
	if err := n.Decode(&m); err != nil {
		t.Fatalf("depends_on: %v", err)
	}
	for k := range m {
		list = append(list, k)
	}
	return list
}

// The compose file runs every piece, wired to each other: the layerq
// commands parse with the real CLI, the registry's config parses with
// distribution's own parser and notifies the receiver with its token,
// Prometheus's config passes promtool, Grafana gets every variable its
// provisioning uses, and the Postgres init script makes the role Grafana
// logs in as, which reads the graph once migrated.
func TestComposeFile(t *testing.T) {
	c := loadCompose(t)
	want := []string{"grafana", "layerq-migrate", "layerq-receiver", "layerq-worker", "nats", "postgres", "prometheus", "registry"}
	var got []string
	for name, s := range c.Services {
		got = append(got, name)
		for _, d := range dependsOn(t, s.DependsOn) {
			if _, ok := c.Services[d]; !ok {
				t.Errorf("%s depends on %s, which is not a service", name, d)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s mounts volume %s, which is not declared", name, src)
			}
		}
		for _, cfg := range s.Configs {
			if _, ok := c.Configs[cfg.Source]; !ok {
				t.Errorf("%s uses config %s, which is not declared", name, cfg.Source)
			}
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("services = %v, want %v", got, want)
	}

	// The layerq commands, through the real command line, in each
	// service's environment (container paths mapped to the repository's).
	parsed := map[string]*cli.Context{}
	natsURLs := map[string]*url.URL{}
	for _, name := range []string{"layerq-migrate", "layerq-receiver", "layerq-worker"} {
		s := c.Services[name]
		if s.Build != "." {
			t.Errorf("%s is not built from the Dockerfile", name)
		}
		app := newApp(io.Discard, io.Discard)
		for _, cmd := range app.Commands {
			cmd.Action = func(ctx *cli.Context) error { parsed[name] = ctx; return nil }
		}
		for k, v := range s.Environment {
			t.Setenv(k, hostPath(v, s.Volumes))
		}
		if err := app.Run(append([]string{"layerq-ingest"}, s.Command...)); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		ctx := parsed[name]
		if ctx == nil {
			t.Errorf("%s ran no command", name)
			continue
		}
		// Migrations as the owner, the rest as the writer's login role.
		wantUser := "layerq_ingest:" + composeEnv["LAYERQ_INGEST_DB_PASSWORD"]
		if name == "layerq-migrate" {
			wantUser = "layerq:" + composeEnv["LAYERQ_DB_PASSWORD"]
		}
		if !strings.Contains(ctx.String("database-url"), "//"+wantUser+"@postgres:5432/") {
			t.Errorf("%s: database URL %q, want it as %s", name, ctx.String("database-url"), strings.Split(wantUser, ":")[0])
		}
		if ctx.Command.Name != "serve" {
			continue
		}
		regs, err := loadRegistries(ctx)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Events name the host clients push to; layerq fetches inside the network.
		if r, err := regs.Lookup("localhost:5000"); err != nil || r.Host != "registry:5000" {
			t.Errorf("%s: localhost:5000 resolves to %+v, %v", name, r, err)
		}
		// NATS as layerq's user, with the password from .env.
		nu, err := url.Parse(ctx.String("nats-url"))
		if err != nil {
			nu = &url.URL{}
		}
		if pw, _ := nu.User.Password(); nu.Scheme != "nats" || nu.Host != "nats:4222" || nu.User.Username() != "layerq" || pw != composeEnv["LAYERQ_NATS_PASSWORD"] {
			t.Errorf("%s: NATS URL %q, want nats://layerq:<LAYERQ_NATS_PASSWORD>@nats:4222", name, redact.URL(ctx.String("nats-url")))
		} else {
			natsURLs[name] = nu
		}
		if ctx.String("listen") != ":8080" {
			t.Errorf("%s: listen %q", name, ctx.String("listen"))
		}
	}
	if len(natsURLs) != 2 {
		t.Errorf("NATS URLs for %d services, want the receiver's and the worker's", len(natsURLs))
	}
	if r := parsed["layerq-receiver"]; r == nil || r.String("role") != "receiver" {
		t.Fatalf("the receiver does not run --role receiver")
	} else if creds, err := webhookCredentials(r); err != nil || len(creds["distribution"].Tokens) != 1 || creds["distribution"].Tokens[0] != composeEnv["LAYERQ_WEBHOOK_TOKEN"] {
		t.Errorf("receiver credentials = %+v, %v", creds, err)
	}
	if w := parsed["layerq-worker"]; w == nil || w.String("role") != "worker" {
		t.Errorf("the worker does not run --role worker")
	}
	if m := parsed["layerq-migrate"]; m == nil || m.Command.Name != "migrate" {
		t.Errorf("layerq-migrate does not migrate")
	}

	// The registry notifies the receiver, with the token it accepts.
	cfg, err := configuration.Parse(strings.NewReader(c.Configs["registry"].Content))
	if err != nil {
		t.Fatalf("the registry's config: %v", err)
	}
	if len(cfg.Notifications.Endpoints) != 1 {
		t.Fatalf("registry endpoints = %+v", cfg.Notifications.Endpoints)
	}
	ep := cfg.Notifications.Endpoints[0]
	u, err := url.Parse(ep.URL)
	if err != nil || u.Host != "layerq-receiver:8080" || u.Path != "/webhooks/distribution" {
		t.Errorf("the registry notifies %s", ep.URL)
	}
	if got := ep.Headers.Get("Authorization"); got != "Bearer "+composeEnv["LAYERQ_WEBHOOK_TOKEN"] {
		t.Errorf("the registry sends Authorization %q", got)
	}
	if !cfg.Notifications.EventConfig.IncludeReferences || cfg.Storage["delete"]["enabled"] != true {
		t.Errorf("the registry should include references in events and allow deletes")
	}
	if !slices.Contains(c.Services["registry"].Ports, "127.0.0.1:5000:5000") {
		t.Errorf("the registry is not published on localhost:5000, the host registries.yaml aliases")
	}

	// Published ports are on the loopback interface only (unless .env
	// says otherwise).
	for name, s := range c.Services {
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") || strings.Count(p, ":") != 2 {
				t.Errorf("%s publishes %q, not on 127.0.0.1 alone", name, p)
			}
		}
	}

	// Images are pinned by digest, but for tags that move, for which no
	// digest was resolved: those are named here, so that a new image is
	// pinned or its tag added on purpose.
	movingTags := []string{"postgres:15", "nats:2.11", "registry:3"}
	for name, s := range c.Services {
		switch {
		case s.Build != "":
		case pinnedImage.MatchString(s.Image):
		case slices.Contains(movingTags, s.Image):
		default:
			t.Errorf("%s's image %q is not pinned by digest", name, s.Image)
		}
	}

	// NATS: the compose service's command and configuration, run by
	// nats-server's own code (the version go.mod pins), refuse a client
	// without the password; the URL layerq's services have connects, with
	// JetStream.
	natsService := c.Services["nats"]
	var natsArgs []string
	for _, a := range natsService.Command {
		natsArgs = append(natsArgs, hostPath(a, natsService.Volumes))
	}
	for k, v := range natsService.Environment {
		t.Setenv(k, v)
	}
	natsOpts, err := natsserver.ConfigureOptions(flag.NewFlagSet("nats-server", flag.ContinueOnError),
		append(natsArgs, "--port", "-1", "--addr", "127.0.0.1"), nil, nil, nil)
	if err != nil {
		t.Fatalf("nats-server %q: %v", natsService.Command, err)
	}
	if !natsOpts.JetStream || natsOpts.HTTPPort != 0 {
		t.Errorf("nats-server: JetStream %v, monitoring port %d; want JetStream and no monitoring port (it answers anyone)", natsOpts.JetStream, natsOpts.HTTPPort)
	}
	natsOpts.NoSigs, natsOpts.NoLog, natsOpts.StoreDir = true, true, t.TempDir()
	ns, err := natsserver.NewServer(natsOpts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	for _, refused := range []string{"nats://" + ns.Addr().String(), "nats://layerq:wrong@" + ns.Addr().String(), "nats://" + composeEnv["LAYERQ_NATS_PASSWORD"] + "@" + ns.Addr().String()} {
		if nc, err := nats.Connect(refused, nats.Timeout(5*time.Second)); !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("NATS let in %s: %v", redact.URL(refused), err)
			if nc != nil {
				nc.Close()
			}
		}
	}
	for name, nu := range natsURLs {
		u := *nu
		u.Host = ns.Addr().String()
		nc, err := nats.Connect(u.String(), nats.Timeout(5*time.Second))
		if err != nil {
			t.Errorf("%s's NATS URL is refused: %v", name, err)
			continue
		}
		js, err := jetstream.New(nc)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err = stream.Ensure(ctx, js, stream.Settings{})
			cancel()
		}
		if err != nil {
			t.Errorf("%s: JetStream as layerq: %v", name, err)
		}
		nc.Close()
	}

	// Prometheus scrapes both layerq services.
	promtest.Run(t, "check", "config", filepath.Join(root, "deploy/prometheus/prometheus.yml"))
	// Its alerting rules fire on the series they are meant for.
	promtest.Run(t, "test", "rules", filepath.Join(root, "deploy/prometheus/layerq-alerts.test.yml"))
	if !slices.Contains(c.Services["prometheus"].Volumes, "./deploy/prometheus/layerq-alerts.yml:/etc/prometheus/layerq-alerts.yml:ro") {
		t.Errorf("compose.yaml does not mount the alerting rules beside prometheus.yml: %q", c.Services["prometheus"].Volumes)
	}
	prom, _ := os.ReadFile(filepath.Join(root, "deploy/prometheus/prometheus.yml"))
	if !strings.Contains(string(prom), "names: [layerq-receiver, layerq-worker]") || !strings.Contains(string(prom), "port: 8080") {
		t.Errorf("prometheus.yml does not scrape layerq-receiver and layerq-worker on 8080")
	}

	// Grafana: the admin password is the one .env must set.
	g := c.Services["grafana"]
	raw := parseCompose(t, func(_ *testing.T, s string) string { return s })
	if p := raw.Services["grafana"].Environment["GF_SECURITY_ADMIN_PASSWORD"]; !regexp.MustCompile(`^\$\{LAYERQ_GRAFANA_ADMIN_PASSWORD:\?[^}]+\}$`).MatchString(p) {
		t.Errorf("Grafana's admin password is %q, want ${LAYERQ_GRAFANA_ADMIN_PASSWORD:?…}", p)
	}
	if g.Environment["GF_SECURITY_ADMIN_PASSWORD"] != composeEnv["LAYERQ_GRAFANA_ADMIN_PASSWORD"] {
		t.Errorf("Grafana's admin password is not LAYERQ_GRAFANA_ADMIN_PASSWORD's")
	}
	for k := range g.Environment {
		if strings.HasPrefix(k, "GF_SECURITY_ADMIN_PASSWORD_") || k == "GF_AUTH_ANONYMOUS_ENABLED" || k == "GF_AUTH_DISABLE_LOGIN_FORM" {
			t.Errorf("grafana sets %s", k)
		}
	}

	// Grafana: every variable its provisioning uses is set.
	prov, _ := os.ReadFile(filepath.Join(root, "dashboards/provisioning/datasources/layerq.yaml"))
	for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`).FindAllStringSubmatch(string(prov), -1) {
		if g.Environment[m[1]] == "" {
			t.Errorf("the datasources use ${%s}, which grafana's environment does not set", m[1])
		}
	}
	for _, mount := range []string{"./dashboards:/var/lib/grafana/dashboards/layerq:ro", "./dashboards/provisioning/datasources:/etc/grafana/provisioning/datasources:ro", "./dashboards/provisioning/dashboards:/etc/grafana/provisioning/dashboards:ro"} {
		if !slices.Contains(g.Volumes, mount) {
			t.Errorf("grafana does not mount %s", mount)
		}
	}

	// The init script, as the postgres image runs it, then layerq's
	// migration: Grafana's role logs in and reads the dashboards' views.
	if _, err := exec.LookPath("psql"); err != nil {
		t.Fatal("psql is not installed: it comes with the PostgreSQL client (Debian: apt-get install postgresql-client)")
	}
	dbURL := pgtest.NewEmptyDatabase(t)
	admin, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	script := exec.Command("sh", filepath.Join(root, "deploy/postgres/10-layerq-roles.sh"))
	pg := c.Services["postgres"]
	script.Env = append(os.Environ(), "POSTGRES_USER="+admin.User.Username(), "POSTGRES_DB="+dbURL,
		"LAYERQ_GRAFANA_DB_PASSWORD="+pg.Environment["LAYERQ_GRAFANA_DB_PASSWORD"], "LAYERQ_INGEST_DB_PASSWORD="+pg.Environment["LAYERQ_INGEST_DB_PASSWORD"])
	if out, err := script.CombinedOutput(); err != nil {
		t.Fatalf("10-layerq-roles.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dbURL)
		if err == nil {
			conn.Exec(context.Background(), "DROP ROLE IF EXISTS layerq_grafana")
			conn.Exec(context.Background(), "DROP ROLE IF EXISTS layerq_ingest")
			conn.Close(context.Background())
		}
	})
	if _, _, err := runCLI(t, "--database-url", dbURL, "migrate"); err != nil {
		t.Fatal(err)
	}
	gu := *admin
	gu.User = url.UserPassword(g.Environment["LAYERQ_GRAFANA_DB_USER"], g.Environment["LAYERQ_GRAFANA_DB_PASSWORD"])
	conn, err := pgx.Connect(context.Background(), gu.String())
	if err != nil {
		t.Fatalf("connecting as Grafana's role: %v", err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM storage_registries`).Scan(&n); err != nil {
		t.Errorf("Grafana's role reading storage_registries: %v", err)
	}
	if _, err := conn.Exec(context.Background(), `DELETE FROM tags`); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("Grafana's role deleting tags: %v, want permission denied", err)
	}
	// The ingest role: rows yes, schema no.
	iu := *admin
	iu.User = url.UserPassword("layerq_ingest", composeEnv["LAYERQ_INGEST_DB_PASSWORD"])
	ic, err := pgx.Connect(context.Background(), iu.String())
	if err != nil {
		t.Fatalf("connecting as the ingest role: %v", err)
	}
	defer ic.Close(context.Background())
	if _, err := ic.Exec(context.Background(), `INSERT INTO ingest_failures (registry, repository, reference, source, class, reason) VALUES ('r', 'x', 'y', 'z', 'c', 'test')`); err != nil {
		t.Errorf("the ingest role writing a row: %v", err)
	}
	if _, err := ic.Exec(context.Background(), `DROP TABLE tags`); err == nil || !strings.Contains(err.Error(), "must be owner") {
		t.Errorf("the ingest role dropping a table: %v, want refused", err)
	}
}

// The Dockerfile's build commands make static binaries, and its image runs
// them as a user that is not root.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var builds []string
	var stages []string
	user := ""
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "FROM "):
			stages = append(stages, line)
			user = ""
		case strings.HasPrefix(line, "USER "):
			user = strings.TrimSpace(strings.TrimPrefix(line, "USER "))
		case strings.HasPrefix(line, "RUN ") && strings.Contains(line, "go build"):
			builds = append(builds, strings.TrimPrefix(line, "RUN "))
		}
	}
	if len(stages) != 2 || !strings.Contains(stages[1], "static") {
		t.Errorf("stages = %q: want a build stage and a static runtime", stages)
	}
	// Base images pinned by digest, but for tags that move, for which no
	// digest was resolved (named here, so that a new one is on purpose).
	movingTags := []string{"golang:1.26-bookworm", "gcr.io/distroless/static-debian12:nonroot"}
	for _, st := range stages {
		if f := strings.Fields(st); len(f) < 2 || !pinnedImage.MatchString(f[1]) && !slices.Contains(movingTags, f[1]) {
			t.Errorf("%q: the base image is not pinned by digest", st)
		}
	}
	if user == "" || user == "root" || strings.HasPrefix(user, "0:") || user == "0" {
		t.Errorf("the image runs as %q", user)
	}
	if len(builds) != 2 {
		t.Fatalf("go build commands = %q", builds)
	}
	out := t.TempDir()
	for _, cmdline := range builds {
		cmd := exec.Command("sh", "-c", strings.ReplaceAll(cmdline, "/out/", out+"/"))
		cmd.Dir = root
		if o, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", cmdline, err, o)
		}
	}
	for _, bin := range []string{"layerq-ingest", "layerq"} {
		f, err := elf.Open(filepath.Join(out, bin))
		if err != nil {
			t.Fatal(err)
		}
		libs, _ := f.ImportedLibraries()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s has a dynamic loader", bin)
			}
		}
		if len(libs) > 0 {
			t.Errorf("%s links %v", bin, libs)
		}
		f.Close()
		help, err := exec.Command(filepath.Join(out, bin), "--help").CombinedOutput()
		if err != nil || !bytes.Contains(help, []byte("USAGE")) {
			t.Errorf("%s --help: %v\n%s", bin, err, help)
		}
	}
}
