package walker

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
)

// sniff reads the media type and schema version a manifest declares. The
// body's own mediaType wins over the Content-Type header, which registries
// sometimes send as plain application/json.
func sniff(raw []byte, contentType string) (mediaType string, schemaVersion int, err error) {
	var head struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Manifests     json.RawMessage `json:"manifests"`
		Config        json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return "", 0, err
	}
	mediaType = head.MediaType
	if mediaType == "" {
		mediaType = contentType
	}
	if mediaType == "" || mediaType == "application/json" {
		// An OCI manifest may omit mediaType; tell index from image by shape.
		switch {
		case head.Manifests != nil:
			mediaType = "application/vnd.oci.image.index.v1+json"
		case head.Config != nil:
			mediaType = "application/vnd.oci.image.manifest.v1+json"
		}
	}
	return mediaType, head.SchemaVersion, nil
}

func isDigest(ref string) bool {
	return strings.HasPrefix(ref, "sha256:") || strings.HasPrefix(ref, "sha512:")
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func joinProblems(p []string) string { return strings.Join(p, "; ") }

// clean drops NUL characters, which JSON allows and Postgres text does not.
func clean(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "")
}

// cleanMap cleans the keys and values of a label or annotation map.
func cleanMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[clean(k)] = clean(v)
	}
	return out
}
