package walker_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/testenv/registrytest"
	"github.com/layerq/layerq/internal/walker"
)

// requireAuth makes the registry demand the given Authorization header,
// answering 401 with challenge otherwise.
func requireAuth(want, challenge string) registrytest.Interceptor {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") == want {
			return false
		}
		w.Header().Set("WWW-Authenticate", challenge)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
		return true
	}
}

func TestCredentials(t *testing.T) {
	t.Parallel()
	img := mustBuild(t, appSpec(sample.OCI))
	cases := []struct {
		name      string
		header    string
		challenge string
		creds     walker.Credentials
	}{
		{"basic", "Basic dXNlcjpwYXNz", `Basic realm="registry"`, walker.Credentials{Username: "user", Password: "pass"}},
		// A registry token is sent as is, with no token exchange (the realm
		// is never contacted).
		{"bearer", "Bearer s3cret", `Bearer realm="https://auth.example.com/token",service="registry"`, walker.Credentials{Token: "s3cret"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t)
			digest := reg.PushImage(t, "private/app:1", img)
			reg.Intercept(requireAuth(c.header, c.challenge))

			c.creds.Registry = reg.Host
			w, err := walker.New(walker.Options{Keychain: walker.Keychain(c.creds)})
			if err != nil {
				t.Fatal(err)
			}
			obs, err := w.Walk(context.Background(), reg.Host, "private/app", "1")
			if err != nil || obs.Root().Digest != digest || len(obs.Root().Layers) != 3 {
				t.Fatalf("with credentials: %v", err)
			}

			if c.name == "bearer" {
				// Anonymous access would ask the realm for a token: no
				// network here, so only the basic case checks refusal.
				return
			}
			// Credentials for another registry are not sent here.
			c.creds.Registry = "elsewhere.example.com"
			w, _ = walker.New(walker.Options{Keychain: walker.Keychain(c.creds)})
			_, err = w.Walk(context.Background(), reg.Host, "private/app", "1")
			var we *walker.Error
			if !errors.As(err, &we) || we.Class != walker.Unauthorized || we.Permanent() {
				t.Fatalf("without credentials: %v", err)
			}
		})
	}
}
