package webhook

import (
	"net/http"
	"strings"
)

// KeptHeader is the part of a request's headers that decoding its body
// needs, as a quarantined item keeps it: Content-Type and the CloudEvents
// ce-* attributes, never credentials; nil when there is none.
func KeptHeader(h http.Header) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		ck := http.CanonicalHeaderKey(k)
		if len(v) > 0 && (ck == "Content-Type" || strings.HasPrefix(ck, "Ce-")) {
			out[ck] = v[0]
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Header turns a kept header back into an http.Header, to decode the body
// again.
func Header(kept map[string]string) http.Header {
	out := http.Header{}
	for k, v := range kept {
		out.Set(k, v)
	}
	return out
}
