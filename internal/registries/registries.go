// Package registries is the set of registries layerq may fetch from. Every
// event is attributed to one configured registry, and only a configured
// registry's own address is ever fetched, so a forged event cannot point
// layerq at an arbitrary URL.
//
// A registry is known by its name (what the graph calls it), its host
// (where layerq fetches from) and any aliases (other names clients push
// to). The host an event names is only a hint: the receiver attributes an
// event to the registry whose endpoint or credentials it arrived through,
// and records a host it did not know as an alias seen for that registry.
package registries

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Registry is one configured registry.
type Registry struct {
	// Name is what the graph calls it (default: Host). It is also the last
	// path segment of its own webhook endpoints, /webhooks/<source>/<name>.
	Name string `yaml:"name"`
	// Host is host[:port] where layerq fetches from.
	Host string `yaml:"host"`
	// Aliases are other hosts events may name for it (the name clients push
	// to, when it differs from Host).
	Aliases []string `yaml:"aliases"`
	// Source, when set, is the only webhook source ("distribution",
	// "harbor", "dockerhub", "cloudevents") that sends this registry's
	// events; "" means any.
	Source string `yaml:"source"`
	// Insecure allows plain HTTP to a host not on localhost.
	Insecure bool `yaml:"insecure"`
	// Credentials for fetching, else the docker config's.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	Token    string `yaml:"token"`
	// WebhookTokens and WebhookBasic ("user:password") are webhook
	// credentials bound to this registry: a request carrying one is this
	// registry's, whatever host its events name.
	WebhookTokens []string `yaml:"webhook_tokens"`
	WebhookBasic  []string `yaml:"webhook_basic"`
}

// Hosts returns the registry's host and aliases, lower-cased.
func (r Registry) Hosts() []string {
	out := []string{strings.ToLower(r.Host)}
	for _, a := range r.Aliases {
		out = append(out, strings.ToLower(a))
	}
	return out
}

// Knows reports whether host is the registry's host or one of its aliases.
func (r Registry) Knows(host string) bool {
	for _, h := range r.Hosts() {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// Set is the configured registries.
type Set struct {
	byName map[string]*entry
	byHost map[string]*entry
	list   []*entry
}

type entry struct {
	Registry
}

// nameRE is what a registry name may be: a host-like token, usable as a
// URL path segment and as an event's registry.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?$`)

// Sources are the webhook sources a registry may be bound to.
var Sources = []string{"distribution", "harbor", "dockerhub", "cloudevents"}

// New checks the registries and builds a Set.
func New(regs []Registry) (*Set, error) {
	s := &Set{byName: map[string]*entry{}, byHost: map[string]*entry{}}
	for i, r := range regs {
		r.Host = strings.TrimSpace(r.Host)
		if err := CheckHost(r.Host); err != nil {
			return nil, fmt.Errorf("registry %d: host %w", i+1, err)
		}
		if r.Name == "" {
			r.Name = r.Host
		}
		if !nameRE.MatchString(r.Name) {
			return nil, fmt.Errorf("registry %d: name %q must be letters, digits, '.' and '-' (and a :port), as a host is", i+1, r.Name)
		}
		if r.Source != "" && !contains(Sources, r.Source) {
			return nil, fmt.Errorf("registry %s: source %q is not one of %s", r.Name, r.Source, strings.Join(Sources, ", "))
		}
		for _, b := range r.WebhookBasic {
			if u, _, ok := strings.Cut(b, ":"); !ok || u == "" {
				return nil, fmt.Errorf("registry %s: webhook_basic entries must be user:password", r.Name)
			}
		}
		e := &entry{Registry: r}
		key := strings.ToLower(r.Name)
		if _, dup := s.byName[key]; dup {
			return nil, fmt.Errorf("registry name %q is configured twice", r.Name)
		}
		s.byName[key] = e
		for _, h := range r.Hosts() {
			if _, dup := s.byHost[h]; dup {
				return nil, fmt.Errorf("registry host %q is configured twice", h)
			}
			s.byHost[h] = e
		}
		s.list = append(s.list, e)
	}
	// A name that is another registry's host would make lookups ambiguous.
	for name, e := range s.byName {
		if o, ok := s.byHost[name]; ok && o != e {
			return nil, fmt.Errorf("registry name %q is the host of registry %q", e.Name, o.Name)
		}
	}
	return s, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// CheckHost says what is wrong with a registry host given with a scheme
// or a path (a URL pasted from a browser, say), and what to give instead.
func CheckHost(host string) error {
	if host == "" {
		return errors.New(`"": give the registry as HOST[:PORT]`)
	}
	if !strings.ContainsAny(host, "/ ") {
		return nil
	}
	want := host
	if _, rest, ok := strings.Cut(want, "://"); ok {
		want = rest
	}
	want, _, _ = strings.Cut(want, "/")
	return fmt.Errorf("%q: give the registry as HOST[:PORT], without scheme or path (%s; for plain HTTP, set insecure)", host, want)
}

// Load reads registries from a YAML file: a list under "registries".
func Load(path string) (*Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading registries: %w", err)
	}
	var f struct {
		Registries []Registry `yaml:"registries"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("reading registries from %s: %s", path, yamlError(err))
	}
	return New(f.Registries)
}

// yamlError is a YAML decoding error in one line, without the Go types
// the file was decoded into: "line 3: sourc is not a setting here".
func yamlError(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return strings.Join(strings.Fields(err.Error()), " ")
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		if at, rest, ok := strings.Cut(m, ": field "); ok {
			if name, typ, ok := strings.Cut(rest, " not found in type "); ok {
				m = at + ": " + name + " is not a setting here (under registries:, a registry takes " + strings.Join(settings(), ", ") + ")"
				if strings.HasPrefix(typ, "struct") { // the file's top level
					m = at + ": " + name + " is not a setting here (the file holds a list under registries:)"
				}
			}
		}
		if at, rest, ok := strings.Cut(m, ": cannot unmarshal "); ok {
			// "!!str `maybe` into bool": the kind only, never the value
			// (it may be a secret).
			what, _, _ := strings.Cut(rest, " ")
			kind := map[string]string{"!!seq": "a list", "!!map": "a mapping", "!!str": "a string", "!!int": "a number",
				"!!float": "a number", "!!bool": "true or false", "!!null": "nothing"}[what]
			if kind == "" {
				kind = "a value of another kind"
			}
			m = at + ": " + kind + " where another kind of value belongs"
		}
		msgs[i] = m
	}
	return strings.Join(msgs, "; ")
}

// ErrUnknown means an event named a registry that is not configured.
var ErrUnknown = errors.New("registry not configured")

// find returns the entry a key names: a registry name first, then a host
// or alias.
func (s *Set) find(key string) (*entry, error) {
	k := strings.ToLower(key)
	if e, ok := s.byName[k]; ok {
		return e, nil
	}
	if e, ok := s.byHost[k]; ok {
		return e, nil
	}
	return nil, fmt.Errorf("%w: %q (configure it with --registry, or as an alias in --registries-file)", ErrUnknown, key)
}

// Lookup finds the registry a name, host or alias names.
func (s *Set) Lookup(key string) (Registry, error) {
	e, err := s.find(key)
	if err != nil {
		return Registry{}, err
	}
	return e.Registry, nil
}

// ByName finds a registry by its configured name only.
func (s *Set) ByName(name string) (Registry, bool) {
	e, ok := s.byName[strings.ToLower(name)]
	if !ok {
		return Registry{}, false
	}
	return e.Registry, true
}

// Resolve attributes an event that arrived on source's shared endpoint,
// without credentials bound to a registry, and names host: the registry
// host (or an alias) names, else the only registry that takes events from
// source. Docker Hub's events always name docker.io, so they are never
// attributed by elimination.
func (s *Set) Resolve(source, host string) (Registry, error) {
	if e, ok := s.byHost[strings.ToLower(host)]; ok && (e.Source == "" || e.Source == source) {
		return e.Registry, nil
	}
	if e, ok := s.byName[strings.ToLower(host)]; ok && (e.Source == "" || e.Source == source) {
		return e.Registry, nil
	}
	if source != "dockerhub" {
		var only *entry
		n := 0
		for _, e := range s.list {
			if e.Source == "" || e.Source == source {
				only = e
				n++
			}
		}
		if n == 1 {
			return only.Registry, nil
		}
	}
	if source == "dockerhub" {
		return Registry{}, fmt.Errorf("%w: %q: Docker Hub's events name docker.io, which no configured registry is (configure it, or list it as an alias of one)", ErrUnknown, host)
	}
	return Registry{}, fmt.Errorf("%w: %q, and %s events may come from more than one registry: point each registry at its own endpoint, /webhooks/%s/<registry name>, or list the host as an alias", ErrUnknown, host, source, source)
}

// Attribute returns the registry an event from source that names host
// belongs to: bound, when the endpoint or credentials it came through name
// a registry, else as Resolve says.
func (s *Set) Attribute(source, host, bound string) (Registry, error) {
	if bound == "" {
		return s.Resolve(source, host)
	}
	if reg, ok := s.ByName(bound); ok {
		if reg.Source != "" && reg.Source != source {
			// Its own endpoint or credentials, but not the sender it
			// takes: a registry bound to one source takes no other's.
			return Registry{}, fmt.Errorf("%w: registry %q takes only %s events (its source: setting), and this came as %s", ErrUnknown, bound, reg.Source, source)
		}
		return reg, nil
	}
	return Registry{}, fmt.Errorf("%w: no registry named %q is configured (its endpoint is /webhooks/%s/%s)", ErrUnknown, bound, source, bound)
}

// All returns the configured registries in order.
func (s *Set) All() []Registry {
	out := make([]Registry, len(s.list))
	for i, e := range s.list {
		out[i] = e.Registry
	}
	return out
}

// settings are the keys a registry takes in the registries file.
func settings() []string {
	t := reflect.TypeFor[Registry]()
	var keys []string
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k != "" && k != "-" {
			keys = append(keys, k)
		}
	}
	return keys
}
