package main

import (
	"bytes"
	"context"
	"debug/elf"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/jackc/pgx/v5"
	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"

	"github.com/layerq/layerq/internal/pgtest"
	"github.com/layerq/layerq/internal/promtest"
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
	"LAYERQ_WEBHOOK_TOKEN":       "webhook-token-1",
	"LAYERQ_DB_PASSWORD":         "db-password-1",
	"LAYERQ_GRAFANA_DB_PASSWORD": "grafana-password-1",
	"LAYERQ_INGEST_DB_PASSWORD":  "ingest-password-1",
}

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
	b, err := os.ReadFile(filepath.Join(root, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal([]byte(interpolate(t, string(b))), &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return c
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
	for _, name := range []string{"layerq-migrate", "layerq-receiver", "layerq-worker"} {
		s := c.Services[name]
		if s.Build != "." {
			t.Errorf("%s is not built from the Dockerfile", name)
		}
		app := newApp(io.Discard, io.Discard)
		for _, cmd := range app.Commands {
			cmd.Action = func(ctx *cli.Context) error { parsed[name] = ctx; return nil }
		}
		env := map[string]string{}
		for k, v := range s.Environment {
			for _, vol := range s.Volumes {
				if src, dst, ok := strings.Cut(strings.TrimSuffix(vol, ":ro"), ":"); ok && v == dst {
					v = filepath.Join(root, src)
				}
			}
			env[k] = v
		}
		for k, v := range env {
			t.Setenv(k, v)
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
		if ctx.String("nats-url") != "nats://nats:4222" || ctx.String("listen") != ":8080" {
			t.Errorf("%s: nats %q, listen %q", name, ctx.String("nats-url"), ctx.String("listen"))
		}
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
	if !slices.Contains(c.Services["registry"].Ports, "5000:5000") {
		t.Errorf("the registry is not published on localhost:5000, the host registries.yaml aliases")
	}

	// Prometheus scrapes both layerq services.
	promtest.Run(t, "check", "config", filepath.Join(root, "deploy/prometheus/prometheus.yml"))
	prom, _ := os.ReadFile(filepath.Join(root, "deploy/prometheus/prometheus.yml"))
	if !strings.Contains(string(prom), "names: [layerq-receiver, layerq-worker]") || !strings.Contains(string(prom), "port: 8080") {
		t.Errorf("prometheus.yml does not scrape layerq-receiver and layerq-worker on 8080")
	}

	// Grafana: every variable its provisioning uses is set.
	g := c.Services["grafana"]
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
