package walker

import (
	"strings"
	"sync"

	"github.com/layerq/layerq/internal/registries"
)

// Walkers gives each configured registry its walker, built on first use.
// A walker always fetches from its registry's configured host, with that
// registry's credentials, whichever name, host or alias an event used.
type Walkers struct {
	regs *registries.Set
	opts Options

	mu    sync.Mutex
	built map[string]*built
}

type built struct {
	once   sync.Once
	walker *Walker
	err    error
}

// NewWalkers returns the walkers of regs. opts are the options every
// walker shares (Keychain and Insecure are set per registry).
func NewWalkers(regs *registries.Set, opts Options) *Walkers {
	return &Walkers{regs: regs, opts: opts, built: map[string]*built{}}
}

// Registries returns the registries the walkers fetch from.
func (w *Walkers) Registries() *registries.Set { return w.regs }

// For returns the walker of the registry a name, host or alias names.
func (w *Walkers) For(key string) (*Walker, registries.Registry, error) {
	reg, err := w.regs.Lookup(key)
	if err != nil {
		return nil, registries.Registry{}, err
	}
	w.mu.Lock()
	b, ok := w.built[strings.ToLower(reg.Name)]
	if !ok {
		b = &built{}
		w.built[strings.ToLower(reg.Name)] = b
	}
	w.mu.Unlock()
	b.once.Do(func() {
		o := w.opts
		o.Insecure = reg.Insecure
		o.Keychain = Keychain(Credentials{Registry: reg.Host, Username: reg.Username, Password: reg.Password, Token: reg.Token})
		b.walker, b.err = New(o)
	})
	return b.walker, reg, b.err
}
