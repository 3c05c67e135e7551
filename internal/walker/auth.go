package walker

import (
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// Credentials are explicit credentials for one registry, from flags or the
// environment. Basic auth (Username, Password) or a bearer Token.
type Credentials struct {
	Registry string
	Username string
	Password string
	Token    string
}

// Keychain resolves explicit credentials for their registry first, then the
// docker config (~/.docker/config.json and credential helpers).
func Keychain(c Credentials) authn.Keychain {
	return authn.NewMultiKeychain(staticKeychain{c}, authn.DefaultKeychain)
}

type staticKeychain struct{ c Credentials }

func (k staticKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	// Compare as go-containerregistry names registries: docker.io is
	// index.docker.io.
	want, err := name.NewRegistry(k.c.Registry)
	if err != nil || r.RegistryStr() != want.RegistryStr() {
		return authn.Anonymous, nil
	}
	switch {
	case k.c.Token != "":
		return &authn.Bearer{Token: k.c.Token}, nil
	case k.c.Username != "" || k.c.Password != "":
		return &authn.Basic{Username: k.c.Username, Password: k.c.Password}, nil
	}
	return authn.Anonymous, nil
}
