package webhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of JSON objects and arrays a body may have.
const MaxDepth = 64

// errorf returns a *DecodeError whose reason is src, ": " and the message.
func errorf(src, format string, args ...any) *DecodeError {
	return &DecodeError{Reason: src + ": " + fmt.Sprintf(format, args...)}
}

// checkJSON rejects what encoding/json would not reject by itself or reject
// too late: an empty body, bytes that are not UTF-8 (encoding/json replaces
// them silently) and nesting deeper than MaxDepth.
func checkJSON(src, what string, b []byte) *DecodeError {
	if len(bytes.TrimSpace(b)) == 0 {
		return errorf(src, "empty %s", what)
	}
	if !utf8.Valid(b) {
		return errorf(src, "%s is not valid UTF-8", what)
	}
	if !depthWithin(b, MaxDepth) {
		if what == "body" {
			return errorf(src, "JSON nested deeper than %d levels", MaxDepth)
		}
		return errorf(src, "%s: JSON nested deeper than %d levels", what, MaxDepth)
	}
	return nil
}

// depthWithin reports whether the objects and arrays in b nest at most max
// deep. It does not validate b; it only needs to be right for valid JSON.
func depthWithin(b []byte, max int) bool {
	depth := 0
	inString, escaped := false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > max {
				return false
			}
		case '}', ']':
			depth--
		}
	}
	return true
}

// unmarshal decodes b into v, turning encoding/json's errors into one-line
// reasons prefixed with prefix ("distribution", "distribution: event 2").
func unmarshal(prefix string, b []byte, v any) *DecodeError {
	err := json.Unmarshal(b, v)
	if err == nil {
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return &DecodeError{Reason: fmt.Sprintf("%s: malformed JSON at offset %d: %s", prefix, syn.Offset, syn.Error())}
	case errors.As(err, &typ):
		if typ.Field == "" {
			return &DecodeError{Reason: fmt.Sprintf("%s: wrong shape: top level is %s, want %s", prefix, typ.Value, jsonKind(typ.Type))}
		}
		return &DecodeError{Reason: fmt.Sprintf("%s: wrong shape: %s is %s, want %s", prefix, quote(typ.Field), typ.Value, jsonKind(typ.Type))}
	case err.Error() == "unexpected end of JSON input":
		return &DecodeError{Reason: prefix + ": malformed JSON: unexpected end of input"}
	default:
		return &DecodeError{Reason: prefix + ": malformed JSON: " + oneLine(strings.TrimPrefix(err.Error(), "json: "))}
	}
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	if t == reflect.TypeFor[json.Number]() {
		return "number"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "a value"
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// firstByte is the first non-white-space byte of a JSON value, 0 if none.
func firstByte(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// isNull reports whether raw is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// generic decodes valid JSON into maps, slices and json.Numbers, keeping
// numbers as written.
func generic(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// payloadDigest is "sha256:" and the hex SHA-256 of the canonical JSON of v
// (as decoded by generic): object keys sorted, no insignificant white space,
// numbers as written.
func payloadDigest(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}
