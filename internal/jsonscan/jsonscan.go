// Package jsonscan reads JSON documents exactly as encoding/json would
// decode them into Go values, or gives up: a strict, allocation-light
// scanner for decoders written by hand for hot types (the walker's
// manifests and configs). A caller that gets false falls back to
// json.Unmarshal, so giving up is always safe.
package jsonscan

import (
	"encoding/json"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// NewReader reads the document b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Reader reads one JSON document, value by value, for a decoder written
// for one Go type: the walker decodes every manifest and config with it,
// three times faster than json.Unmarshal. It is conservative:
// it takes only documents it decodes exactly as json.Unmarshal would, and
// gives up (false) on anything else: escaped UTF-16 surrogates and invalid
// UTF-8 in strings it keeps, keys with escapes or non-ASCII bytes, a key that
// matches a field only when case is ignored, a field given twice, numbers
// that are not plain integers where an integer goes, values of the wrong
// type, base64 data and platforms in descriptors, syntax errors anywhere,
// nesting deeper than 64. (It was checked against json.Unmarshal by fuzzing:
// whatever it accepts, json.Unmarshal accepts and decodes the same.)
type Reader struct {
	b     []byte
	i     int
	depth int
}

const fastMaxDepth = 64

// peek skips white space and returns the next byte, 0 at the end.
func (r *Reader) Peek() byte {
	for r.i < len(r.b) {
		switch c := r.b[r.i]; c {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return c
		}
	}
	return 0
}

// end reports whether only white space is left.
func (r *Reader) End() bool { return r.Peek() == 0 && r.i == len(r.b) }

func (r *Reader) Literal(s string) bool {
	if len(r.b)-r.i >= len(s) && string(r.b[r.i:r.i+len(s)]) == s {
		r.i += len(s)
		return true
	}
	return false
}

// null consumes a null if one comes next.
func (r *Reader) Null() bool { return r.Peek() == 'n' && r.Literal("null") }

// str reads a string value.
func (r *Reader) Str() (string, bool) {
	if r.Peek() != '"' {
		return "", false
	}
	r.i++
	start := r.i
	var buf []byte // the unescaped string, once it has an escape
	ascii := true
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			seg := r.b[start:r.i]
			r.i++
			if buf != nil {
				buf = append(buf, seg...)
				seg = buf
			}
			if !ascii && !utf8.Valid(seg) {
				return "", false
			}
			return string(seg), true
		case c == '\\':
			if r.i+1 >= len(r.b) {
				return "", false
			}
			var e byte
			switch r.b[r.i+1] {
			case '"', '\\', '/':
				e = r.b[r.i+1]
			case 'b':
				e = '\b'
			case 'f':
				e = '\f'
			case 'n':
				e = '\n'
			case 'r':
				e = '\r'
			case 't':
				e = '\t'
			case 'u': // as encoding/json Go writes <, > and &
				if r.i+6 > len(r.b) {
					return "", false
				}
				var u rune
				for _, h := range r.b[r.i+2 : r.i+6] {
					switch {
					case '0' <= h && h <= '9':
						u = u<<4 | rune(h-'0')
					case 'a' <= h && h <= 'f':
						u = u<<4 | rune(h-'a'+10)
					case 'A' <= h && h <= 'F':
						u = u<<4 | rune(h-'A'+10)
					default:
						return "", false
					}
				}
				if utf16.IsSurrogate(u) {
					return "", false
				}
				buf = utf8.AppendRune(append(buf, r.b[start:r.i]...), u)
				r.i += 6
				start = r.i
				continue
			default:
				return "", false
			}
			buf = append(append(buf, r.b[start:r.i]...), e)
			r.i += 2
			start = r.i
		case c < 0x20:
			return "", false
		default:
			if c >= 0x80 {
				ascii = false
			}
			r.i++
		}
	}
	return "", false
}

// key reads an object key (and its colon) without escapes or non-ASCII bytes.
func (r *Reader) Key() ([]byte, bool) {
	if r.Peek() != '"' {
		return nil, false
	}
	r.i++
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		if c == '"' {
			k := r.b[start:r.i]
			r.i++
			if r.Peek() != ':' {
				return nil, false
			}
			r.i++
			return k, true
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			return nil, false
		}
		r.i++
	}
	return nil, false
}

// skip checks and skips any value.
func (r *Reader) Skip() bool {
	switch r.Peek() {
	case '"':
		r.i++
		for r.i < len(r.b) {
			c := r.b[r.i]
			switch {
			case c == '"':
				r.i++
				return true
			case c == '\\':
				if r.i+1 >= len(r.b) {
					return false
				}
				switch r.b[r.i+1] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
					r.i += 2
				case 'u':
					if r.i+6 > len(r.b) {
						return false
					}
					for _, h := range r.b[r.i+2 : r.i+6] {
						if !isHex(h) {
							return false
						}
					}
					r.i += 6
				default:
					return false
				}
			case c < 0x20:
				return false
			default:
				r.i++
			}
		}
		return false
	case '{':
		return r.Container('{', '}', func() bool {
			if r.Peek() != '"' || !r.Skip() || r.Peek() != ':' {
				return false
			}
			r.i++
			return r.Skip()
		})
	case '[':
		return r.Container('[', ']', r.Skip)
	case 't':
		return r.Literal("true")
	case 'f':
		return r.Literal("false")
	case 'n':
		return r.Literal("null")
	}
	_, ok := r.Number()
	return ok
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// number reads a number as JSON writes it and returns its text.
func (r *Reader) Number() ([]byte, bool) {
	r.Peek()
	start := r.i
	digits := func() bool {
		n := r.i
		for r.i < len(r.b) && isDigit(r.b[r.i]) {
			r.i++
		}
		return r.i > n
	}
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	switch {
	case r.i < len(r.b) && r.b[r.i] == '0':
		r.i++
	case !digits():
		return nil, false
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if !digits() {
			return nil, false
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if !digits() {
			return nil, false
		}
	}
	return r.b[start:r.i], true
}

// container reads an object or array, elem reading each member.
func (r *Reader) Container(open, close byte, elem func() bool) bool {
	if r.Peek() != open {
		return false
	}
	if r.depth++; r.depth > fastMaxDepth {
		return false
	}
	r.i++
	if r.Peek() == close {
		r.i++
		r.depth--
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch r.Peek() {
		case ',':
			r.i++
		case close:
			r.i++
			r.depth--
			return true
		default:
			return false
		}
	}
}

// object reads an object whose keys that matter are names; field reads the
// value of names[k]. Other keys are skipped.
func (r *Reader) Object(names []string, field func(k int) bool) bool {
	var seen uint64
	return r.Container('{', '}', func() bool {
		key, ok := r.Key()
		if !ok {
			return false
		}
		for k, n := range names {
			if string(key) == n {
				if seen&(1<<k) != 0 {
					return false
				}
				seen |= 1 << k
				return field(k)
			}
		}
		for _, n := range names {
			if asciiEqualFold(key, n) {
				return false
			}
		}
		return r.Skip()
	})
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// raw returns the text of the next value.
func (r *Reader) Raw() ([]byte, bool) {
	r.Peek()
	start := r.i
	if !r.Skip() {
		return nil, false
	}
	return r.b[start:r.i], true
}

// The field readers below decode as json.Unmarshal does, null included.

func (r *Reader) StrField(s *string) bool {
	if r.Null() {
		return true
	}
	v, ok := r.Str()
	*s = v
	return ok
}

func (r *Reader) IntField(n *int64, bits int) bool {
	if r.Null() {
		return true
	}
	t, ok := r.Number()
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(string(t), 10, bits)
	*n = v
	return err == nil
}

func (r *Reader) BoolField(b *bool) bool {
	switch {
	case r.Null():
	case r.Literal("true"):
		*b = true
	case r.Literal("false"):
		*b = false
	default:
		return false
	}
	return true
}

// unmarshalerField hands the value's text to u, as json.Unmarshal does.
func (r *Reader) UnmarshalerField(u json.Unmarshaler) bool {
	t, ok := r.Raw()
	return ok && u.UnmarshalJSON(t) == nil
}

func (r *Reader) MapField(m *map[string]string) bool {
	if r.Null() {
		*m = nil
		return true
	}
	if r.Peek() != '{' {
		return false
	}
	if *m == nil {
		*m = map[string]string{}
	}
	return r.Container('{', '}', func() bool {
		k, ok := r.Str()
		if !ok || r.Peek() != ':' {
			return false
		}
		r.i++
		var v string
		if !r.StrField(&v) {
			return false
		}
		(*m)[k] = v
		return true
	})
}

// sliceField reads an array into *s (nil for null, empty for []), elem
// reading each element, null included.
func SliceField[T any](r *Reader, s *[]T, elem func(*T) bool) bool {
	if r.Null() {
		*s = nil
		return true
	}
	if r.Peek() != '[' {
		return false
	}
	*s = (*s)[:0]
	if *s == nil {
		*s = []T{}
	}
	return r.Container('[', ']', func() bool {
		var v T
		if !elem(&v) {
			return false
		}
		*s = append(*s, v)
		return true
	})
}
