package walker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Class groups the reasons a walk fails.
type Class string

// The failure classes. Unsupported, Invalid, NotFound and TooLarge are
// permanent: fetching again returns the same answer. Unauthorized and Registry
// may heal (credentials rotated, registry back up).
const (
	Unsupported  Class = "unsupported"
	Invalid      Class = "invalid"
	NotFound     Class = "not_found"
	TooLarge     Class = "too_large"
	Unauthorized Class = "unauthorized"
	Registry     Class = "registry"
)

// Error is a failed walk: the class and a one-line reason for people.
type Error struct {
	Class  Class
	Reason string
	Err    error
}

func (e *Error) Error() string { return e.Reason }
func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether walking the same reference again is pointless.
func (e *Error) Permanent() bool {
	switch e.Class {
	case Unsupported, Invalid, NotFound, TooLarge:
		return true
	}
	return false
}

// errTooLarge is what the size-capping transport's bodies return past the cap.
var errTooLarge = errors.New("body over the size limit")

func failf(class Class, err error, format string, args ...any) *Error {
	return &Error{Class: class, Reason: fmt.Sprintf(format, args...), Err: err}
}

// Classify turns an error from go-containerregistry or the network into an
// *Error saying what went wrong while doing what.
func Classify(doing string, err error) error {
	if err == nil {
		return nil
	}
	var we *Error
	if errors.As(err, &we) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if errors.Is(err, context.DeadlineExceeded) {
			return failf(Registry, err, "%s: timed out", doing)
		}
		return err
	}
	if errors.Is(err, errTooLarge) {
		return failf(TooLarge, err, "%s: larger than %d bytes", doing, MaxManifestBytes)
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden:
			return failf(Unauthorized, err, "%s: registry answered %d %s; check the registry credentials", doing, te.StatusCode, http.StatusText(te.StatusCode))
		case te.StatusCode == http.StatusNotFound:
			return failf(NotFound, err, "%s: not found (404)", doing)
		case te.StatusCode >= 500 || te.StatusCode == http.StatusTooManyRequests:
			return failf(Registry, err, "%s: registry answered %d %s", doing, te.StatusCode, http.StatusText(te.StatusCode))
		default:
			return failf(Invalid, err, "%s: registry answered %d %s", doing, te.StatusCode, http.StatusText(te.StatusCode))
		}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return failf(Registry, err, "%s: %v", doing, err)
	}
	// go-containerregistry reports a digest mismatch only in words.
	if msg := err.Error(); strings.Contains(msg, "does not match") || strings.Contains(msg, "error verifying") {
		return failf(Invalid, err, "%s: content does not match its digest", doing)
	}
	return failf(Registry, err, "%s: %v", doing, err)
}
