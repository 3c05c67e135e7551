// Package registries is the set of registries layerq may fetch from. Events
// name a registry host; only a host configured here (by its address or an
// alias) is ever fetched, so a forged event cannot point layerq at an
// arbitrary URL.
package registries

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/layerq/layerq/internal/walker"
)

// Registry is one configured registry.
type Registry struct {
	// Name is what the graph calls it (default: Host).
	Name string `yaml:"name"`
	// Host is host[:port] where layerq fetches from.
	Host string `yaml:"host"`
	// Aliases are other hosts events may name for it (the name clients push
	// to, when it differs from Host).
	Aliases []string `yaml:"aliases"`
	// Insecure allows plain HTTP to a host not on localhost.
	Insecure bool `yaml:"insecure"`
	// Credentials, else the docker config's.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	Token    string `yaml:"token"`
}

// Set is the configured registries, with one walker each.
type Set struct {
	byHost map[string]*entry
	list   []*entry
}

type entry struct {
	Registry
	once   sync.Once
	walker *walker.Walker
	err    error
	opts   walker.Options
}

// New checks the registries and builds a Set. opts are the walker options
// shared by all (Keychain and Insecure are set per registry).
func New(regs []Registry, opts walker.Options) (*Set, error) {
	s := &Set{byHost: map[string]*entry{}}
	for i, r := range regs {
		r.Host = strings.TrimSpace(r.Host)
		if r.Host == "" || strings.ContainsAny(r.Host, "/ ") {
			return nil, fmt.Errorf("registry %d: host %q must be host[:port], without scheme or path", i+1, r.Host)
		}
		if r.Name == "" {
			r.Name = r.Host
		}
		e := &entry{Registry: r, opts: opts}
		for _, h := range append([]string{r.Host}, r.Aliases...) {
			h = strings.ToLower(h)
			if _, dup := s.byHost[h]; dup {
				return nil, fmt.Errorf("registry host %q is configured twice", h)
			}
			s.byHost[h] = e
		}
		s.list = append(s.list, e)
	}
	return s, nil
}

// Load reads registries from a YAML file: a list under "registries".
func Load(path string, opts walker.Options) (*Set, error) {
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
		return nil, fmt.Errorf("reading registries from %s: %w", path, err)
	}
	return New(f.Registries, opts)
}

// ErrUnknown means an event named a registry that is not configured.
var ErrUnknown = errors.New("registry not configured")

// Lookup finds the registry an event's host names.
func (s *Set) Lookup(host string) (Registry, error) {
	e, ok := s.byHost[strings.ToLower(host)]
	if !ok {
		return Registry{}, fmt.Errorf("%w: %q (configure it with --registry)", ErrUnknown, host)
	}
	return e.Registry, nil
}

// Walker returns the walker for the registry an event's host names.
func (s *Set) Walker(host string) (*walker.Walker, Registry, error) {
	e, ok := s.byHost[strings.ToLower(host)]
	if !ok {
		return nil, Registry{}, fmt.Errorf("%w: %q (configure it with --registry)", ErrUnknown, host)
	}
	e.once.Do(func() {
		o := e.opts
		o.Insecure = e.Insecure
		o.Keychain = walker.Keychain(walker.Credentials{Registry: e.Host, Username: e.Username, Password: e.Password, Token: e.Token})
		e.walker, e.err = walker.New(o)
	})
	return e.walker, e.Registry, e.err
}

// All returns the configured registries in order.
func (s *Set) All() []Registry {
	out := make([]Registry, len(s.list))
	for i, e := range s.list {
		out[i] = e.Registry
	}
	return out
}
