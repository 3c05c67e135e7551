package dashboards_test

import (
	"encoding/json"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/layerq/layerq/dashboards"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The parts of Grafana's dashboard JSON the tests read.
type (
	dashboard struct {
		file          string
		UID           string `json:"uid"`
		Title         string `json:"title"`
		SchemaVersion int    `json:"schemaVersion"`
		Panels        []panel
		Templating    struct {
			List []variable `json:"list"`
		} `json:"templating"`
	}
	dsRef struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	panel struct {
		ID          int                      `json:"id"`
		Type        string                   `json:"type"`
		Title       string                   `json:"title"`
		Datasource  *dsRef                   `json:"datasource"`
		Targets     []target                 `json:"targets"`
		Panels      []panel                  `json:"panels"`
		GridPos     struct{ H, W, X, Y int } `json:"gridPos"`
		FieldConfig struct {
			Overrides []struct {
				Matcher struct{ ID, Options string } `json:"matcher"`
			} `json:"overrides"`
		} `json:"fieldConfig"`
		Options struct {
			ReduceOptions *struct {
				Fields string `json:"fields"`
			} `json:"reduceOptions"`
		} `json:"options"`
		Transformations []struct {
			ID      string `json:"id"`
			Options struct {
				IndexByName map[string]int `json:"indexByName"`
			} `json:"options"`
		} `json:"transformations"`
	}
	target struct {
		RefID      string `json:"refId"`
		Datasource *dsRef `json:"datasource"`
		RawSQL     string `json:"rawSql"`
		Format     string `json:"format"`
		Expr       string `json:"expr"`
	}
	variable struct {
		Name       string `json:"name"`
		Type       string `json:"type"`
		Datasource *dsRef `json:"datasource"`
		Query      string `json:"query"`
		Multi      bool   `json:"multi"`
		IncludeAll bool   `json:"includeAll"`
		AllValue   string `json:"allValue"`
	}
)

// query is a panel's query for a datasource.
func (t target) query() string { return t.RawSQL + t.Expr }

// columns are the columns a table panel lays out, in order.
func (p panel) columns() []string {
	for _, tr := range p.Transformations {
		if tr.ID == "organize" && len(tr.Options.IndexByName) > 0 {
			cols := make([]string, len(tr.Options.IndexByName))
			for c, i := range tr.Options.IndexByName {
				if i >= 0 && i < len(cols) {
					cols[i] = c
				}
			}
			return cols
		}
	}
	return nil
}

// statField is the column a stat panel shows (its fields regexp /^name$/).
func (p panel) statField() string {
	if p.Options.ReduceOptions == nil {
		return ""
	}
	return strings.TrimSuffix(strings.TrimPrefix(p.Options.ReduceOptions.Fields, "/^"), "$/")
}

// leaves returns the panels that are not rows, rows' children included.
func (d dashboard) leaves() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

func loadDashboards(t testing.TB) []dashboard {
	t.Helper()
	files, err := fs.Glob(dashboards.Files, "*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	var out []dashboard
	for _, f := range files {
		b, err := dashboards.Files.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		d.file = f
		out = append(out, d)
	}
	return out
}

// provisioned returns the provisioned datasources: uid -> type.
func provisioned(t *testing.T) map[string]string {
	t.Helper()
	b, err := dashboards.Files.ReadFile("provisioning/datasources/layerq.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, UID, Type, URL string
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.APIVersion != 1 {
		t.Errorf("datasources apiVersion = %d, want 1", cfg.APIVersion)
	}
	out := map[string]string{}
	for _, ds := range cfg.Datasources {
		if ds.UID == "" || ds.Type == "" || ds.URL == "" {
			t.Errorf("datasource %q lacks a uid, type or url", ds.Name)
		}
		out[ds.UID] = ds.Type
	}
	return out
}

// The dashboards every user gets.
var wantDashboards = []string{"layerq-cache", "layerq-ingest", "layerq-overview"}

// varRef finds template variables in a query: $name, ${name} and
// ${name:format}; Grafana's own ($__…) are macros.
var varRef = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[a-z]+)?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

func TestDashboardStructure(t *testing.T) {
	sources := provisioned(t)
	if sources["layerq-postgres"] != "grafana-postgresql-datasource" || sources["layerq-prometheus"] != "prometheus" {
		t.Fatalf("provisioned datasources = %v", sources)
	}
	ds := loadDashboards(t)
	var uids []string
	titles := map[string]bool{}
	for _, d := range ds {
		t.Run(d.file, func(t *testing.T) {
			if d.UID == "" || len(d.UID) > 40 || d.file != d.UID+".json" {
				t.Errorf("uid %q: want a uid of at most 40 characters naming the file", d.UID)
			}
			if titles[d.Title] || d.Title == "" {
				t.Errorf("title %q empty or used twice", d.Title)
			}
			titles[d.Title] = true
			// Grafana 10.4 to 12 write schema versions 39 to 41; older
			// than 36 is migrated on load.
			if d.SchemaVersion < 36 || d.SchemaVersion > 41 {
				t.Errorf("schemaVersion %d", d.SchemaVersion)
			}
			resolve := func(what string, r *dsRef) {
				if r == nil {
					t.Errorf("%s names no datasource", what)
					return
				}
				if typ, ok := sources[r.UID]; !ok || typ != r.Type {
					t.Errorf("%s uses datasource %s (%s), which is not provisioned (%v)", what, r.UID, r.Type, sources)
				}
			}
			vars := map[string]bool{}
			for _, v := range d.Templating.List {
				resolve("variable "+v.Name, v.Datasource)
				if v.Type != "query" || v.Query == "" {
					t.Errorf("variable %s: type %q, query %q", v.Name, v.Type, v.Query)
				}
				vars[v.Name] = true
			}
			ids := map[int]bool{}
			var all []panel
			for _, p := range d.Panels {
				all = append(all, p)
				all = append(all, p.Panels...)
			}
			for _, p := range all {
				if ids[p.ID] || p.ID == 0 {
					t.Errorf("panel %q: id %d missing or used twice", p.Title, p.ID)
				}
				ids[p.ID] = true
			}
			leaves := d.leaves()
			if len(leaves) < 5 {
				t.Errorf("%d panels", len(leaves))
			}
			for _, p := range leaves {
				what := "panel " + p.Title
				if p.Title == "" {
					t.Errorf("panel %d has no title", p.ID)
				}
				if len(p.Targets) == 0 {
					t.Errorf("%s has no query", what)
				}
				resolve(what, p.Datasource)
				for _, tg := range p.Targets {
					resolve(what+" query "+tg.RefID, tg.Datasource)
					if tg.Datasource != nil && p.Datasource != nil && *tg.Datasource != *p.Datasource {
						t.Errorf("%s: query %s and panel name different datasources", what, tg.RefID)
					}
					q := tg.query()
					if strings.TrimSpace(q) == "" || (tg.RawSQL != "") == (tg.Expr != "") {
						t.Errorf("%s query %s: want exactly one of rawSql or expr, got %q", what, tg.RefID, q)
					}
					for _, m := range varRef.FindAllStringSubmatch(q, -1) {
						name := m[1] + m[2]
						if !strings.HasPrefix(name, "__") && !vars[name] {
							t.Errorf("%s uses variable $%s, which the dashboard does not define", what, name)
						}
					}
				}
				switch p.Type {
				case "table":
					if len(p.columns()) == 0 {
						t.Errorf("%s: a table panel lays out its columns (organize transformation)", what)
					}
					for _, o := range p.FieldConfig.Overrides {
						if o.Matcher.ID == "byName" && !slices.Contains(p.columns(), o.Matcher.Options) {
							t.Errorf("%s: an override names column %q, which the table does not lay out", what, o.Matcher.Options)
						}
					}
				case "stat":
					if p.statField() == "" {
						t.Errorf("%s: a stat panel names the field it shows", what)
					}
				case "timeseries":
				case "nodegraph":
					// Two frames: its nodes and its edges (refIds say which).
					if len(p.Targets) != 2 || p.Targets[0].RefID != "nodes" || p.Targets[1].RefID != "edges" {
						t.Errorf("%s: a node graph has two queries, nodes and edges", what)
					}
				default:
					t.Errorf("%s: panel type %q", what, p.Type)
				}
				g := p.GridPos
				if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
					t.Errorf("%s: grid position %+v outside the 24 columns", what, g)
				}
			}
			// No two panels overlap.
			for i, a := range all {
				for _, b := range all[i+1:] {
					ga, gb := a.GridPos, b.GridPos
					if ga.X < gb.X+gb.W && gb.X < ga.X+ga.W && ga.Y < gb.Y+gb.H && gb.Y < ga.Y+ga.H {
						t.Errorf("panels %q and %q overlap", a.Title, b.Title)
					}
				}
			}
		})
		uids = append(uids, d.UID)
	}
	slices.Sort(uids)
	if !slices.Equal(uids, wantDashboards) {
		t.Errorf("dashboards = %v, want %v", uids, wantDashboards)
	}

	// The provider loads the folder compose.yaml mounts them in.
	b, err := dashboards.Files.ReadFile("provisioning/dashboards/layerq.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var prov struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Type string
			Options    struct{ Path string }
		}
	}
	if err := yaml.Unmarshal(b, &prov); err != nil {
		t.Fatal(err)
	}
	if prov.APIVersion != 1 || len(prov.Providers) != 1 || prov.Providers[0].Type != "file" || prov.Providers[0].Options.Path != DashboardsPath {
		t.Errorf("dashboard provider = %+v", prov)
	}
}

// DashboardsPath is where Grafana finds the dashboards (compose.yaml mounts
// dashboards/ there).
const DashboardsPath = "/var/lib/grafana/dashboards/layerq"
