package jsonscan_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/layerq/layerq/internal/jsonscan"
)

type doc struct {
	A string            `json:"a"`
	N int64             `json:"n"`
	B bool              `json:"b"`
	M map[string]string `json:"m"`
	S []string          `json:"s"`
}

var fields = []string{"a", "n", "b", "m", "s"}

// decode is a hand-written decoder for doc, as callers of jsonscan write
// them.
func decode(raw string) (doc, bool) {
	r := jsonscan.NewReader([]byte(raw))
	var d doc
	ok := r.Object(fields, func(k int) bool {
		switch k {
		case 0:
			return r.StrField(&d.A)
		case 1:
			return r.IntField(&d.N, 64)
		case 2:
			return r.BoolField(&d.B)
		case 3:
			return r.MapField(&d.M)
		}
		return jsonscan.SliceField(r, &d.S, func(s *string) bool { return r.StrField(s) })
	})
	return d, ok && r.End()
}

// What the reader takes, it decodes as json.Unmarshal does; what it cannot
// be sure of, it refuses (and the caller falls back to json.Unmarshal).
func TestReaderAgreesWithUnmarshal(t *testing.T) {
	for _, c := range []struct {
		in   string
		take bool
	}{
		{`{"a":"x","n":3,"b":true,"m":{"k":"v"},"s":["p","q"]}`, true},
		{` { "a" : "caf\u00e9 \"q\"" , "unknown": [1, {"x": null}], "n": -12 } `, true},
		{`{"a":null,"m":null,"s":null}`, true},
		{`{"a":"x","a":"y"}`, false},                                         // a field given twice
		{`{"A":"x"}`, false},                                                 // matches only when case is ignored
		{`{"\u0061":"x"}`, false},                                            // a key with an escape
		{`{"n":1.5}`, false},                                                 // not an integer
		{`{"b":"true"}`, false},                                              // the wrong type
		{`{"a":"x"} trailing`, false},                                        // not one document
		{`{"a":"\ud800"}`, false},                                            // a lone surrogate
		{strings.Repeat(`{"x":`, 70) + `1` + strings.Repeat(`}`, 70), false}, // too deep
	} {
		got, ok := decode(c.in)
		if ok != c.take {
			t.Errorf("%s: taken %v, want %v", c.in, ok, c.take)
			continue
		}
		if !ok {
			continue
		}
		var want doc
		if err := json.Unmarshal([]byte(c.in), &want); err != nil {
			t.Fatalf("%s: json.Unmarshal: %v", c.in, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.in, got, want)
		}
	}
}
