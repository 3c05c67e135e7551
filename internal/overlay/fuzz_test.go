package overlay

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/layerq/layerq/internal/fileindex"
)

// fuzzPaths is the root plus every path of up to three components over
// {a, b, c}: few enough that entries collide, deep enough for subtrees.
var fuzzPaths = func() []string {
	ps := []string{"."}
	names := []string{"a", "b", "c"}
	level := []string{""}
	for range 3 {
		var next []string
		for _, p := range level {
			for _, n := range names {
				if p != "" {
					n = p + "/" + n
				}
				next = append(next, n)
				ps = append(ps, n)
			}
		}
		level = next
	}
	return ps
}()

var fuzzContents = []string{"", "x", "yy", "zzz"}

// Small stacks are enough to meet every rule, and keep minimizing an
// input quick.
const maxFuzzLayers, maxFuzzEntries = 6, 64

// decodeLayers turns fuzz bytes into a layer stack, three bytes an entry:
// what, which path, and an argument (content, mode and owner of a file;
// the target of a link).
func decodeLayers(data []byte) [][]fileindex.Entry {
	layers := [][]fileindex.Entry{nil}
	for n := 0; len(data) >= 3 && n < maxFuzzEntries; n++ {
		op, pi, arg := data[0], data[1], data[2]
		data = data[3:]
		p := fuzzPaths[int(pi)%len(fuzzPaths)]
		target := fuzzPaths[int(arg)%len(fuzzPaths)]
		var e fileindex.Entry
		switch op % 10 {
		case 0:
			if len(layers) < maxFuzzLayers {
				layers = append(layers, nil)
			}
			continue
		case 1, 2, 3:
			e = file(p, fuzzContents[arg&3], 0o644|int64(arg>>2&1)*0o111)
			e.UID = int(arg >> 3 & 1)
		case 4:
			e = dir(p)
		case 5:
			e = wh(p)
		case 6:
			e = opq(p)
		case 7:
			e = hl(p, target)
		case 8:
			e = sym(p, target)
		case 9:
			e = dev(p)
		}
		l := len(layers) - 1
		layers[l] = append(layers[l], e)
	}
	return layers
}

// seed encodes entries for decodeLayers as (op, path index, arg) triples.
func seed(ops ...[3]byte) []byte {
	var b []byte
	for _, o := range ops {
		b = append(b, o[:]...)
	}
	return b
}

func pathIndex(p string) byte {
	for i, q := range fuzzPaths {
		if q == p {
			return byte(i)
		}
	}
	panic("no fuzz path " + p)
}

func fuzzSeeds() [][]byte {
	a, ab, abc, b := pathIndex("a"), pathIndex("a/b"), pathIndex("a/b/c"), pathIndex("b")
	const (
		newLayer = 0
		fileOp   = 1
		dirOp    = 4
		whOp     = 5
		opqOp    = 6
		hlOp     = 7
		symOp    = 8
	)
	return [][]byte{
		{},
		seed([3]byte{dirOp, a, 0}, [3]byte{fileOp, ab, 1}, [3]byte{newLayer, 0, 0}, [3]byte{whOp, a, 0}),
		seed([3]byte{fileOp, abc, 2}, [3]byte{hlOp, b, abc}, [3]byte{newLayer, 0, 0}, [3]byte{whOp, a, 0}, [3]byte{newLayer, 0, 0}, [3]byte{whOp, b, 0}),
		seed([3]byte{fileOp, ab, 3}, [3]byte{newLayer, 0, 0}, [3]byte{fileOp, ab, 3 | 4}, [3]byte{opqOp, a, 0}, [3]byte{fileOp, abc, 1}),
		seed([3]byte{fileOp, a, 1}, [3]byte{newLayer, 0, 0}, [3]byte{fileOp, abc, 2}, [3]byte{symOp, ab, a}, [3]byte{hlOp, a, ab}),
		seed([3]byte{fileOp, 0, 1}, [3]byte{opqOp, 0, 0}, [3]byte{hlOp, a, 0}, [3]byte{newLayer, 0, 0}, [3]byte{opqOp, 0, 0}),
	}
}

// FuzzApply: Apply never panics, accounts for every File entry exactly
// once, is deterministic and agrees with the flat model.
func FuzzApply(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		layers := decodeLayers(data)
		checkInvariants(t, layers, Apply(layers))
	})
}

// TestApplyMatchesModel runs the fuzz checks on random stacks, so that
// they run without -fuzz too.
func TestApplyMatchesModel(t *testing.T) {
	t.Parallel()
	randomCases(t, 1, func(rng *rand.Rand) []byte {
		return randomBytes(rng, 3*(1+rng.IntN(maxFuzzEntries)))
	}, func(data []byte) {
		layers := decodeLayers(data)
		checkInvariants(t, layers, Apply(layers))
	})
}

// FuzzShownPairs checks ShownPairs against Shown on each side: the first
// half of the input is a's stack, the second b's layers above the bottom
// it shares with a (as many layers of a as the first byte's low bits say;
// its high bit: b is that bottom alone).
func FuzzShownPairs(f *testing.F) {
	seeds := fuzzSeeds()
	for i, s := range seeds {
		f.Add(append(append([]byte{byte(i)}, s...), seeds[(i+1)%len(seeds)]...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		checkShownPairs(t, data)
	})
}

// TestShownPairsMatchShown runs FuzzShownPairs' check on random stacks.
func TestShownPairsMatchShown(t *testing.T) {
	t.Parallel()
	randomCases(t, 3, func(rng *rand.Rand) []byte {
		data := randomBytes(rng, 1+3*(2+rng.IntN(2*maxFuzzEntries)))
		// Mostly new layers, so that the bottom is some layers deep.
		for j := 1; j+2 < len(data); j += 3 {
			if rng.IntN(6) == 0 {
				data[j] = 0
			}
		}
		return data
	}, func(data []byte) { checkShownPairs(t, data) })
}

// randomCases runs check on 3,000 inputs (300 with -short) that gen
// makes from a generator seeded with seed, and stops at the first that
// fails, saying which.
func randomCases(t *testing.T, seed uint64, gen func(*rand.Rand) []byte, check func([]byte)) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := range n {
		data := gen(rng)
		check(data)
		if t.Failed() {
			t.Fatalf("case %d: input %x", i, data)
		}
	}
}

// randomBytes is n bytes from rng, a fuzz input.
func randomBytes(rng *rand.Rand, n int) []byte {
	data := make([]byte, n)
	for j := range data {
		data[j] = byte(rng.Uint32())
	}
	return data
}

func checkShownPairs(t *testing.T, data []byte) {
	t.Helper()
	half := 1 + (len(data)-1)/2
	a := decodeLayers(data[1:half])
	shared := int(data[0]&0x7f) % (len(a) + 1)
	b := slices.Clone(a[:shared])
	if data[0]&0x80 == 0 { // else b is the bottom alone
		b = append(b, decodeLayers(data[half:])...)
	}
	want := map[string]Pair{}
	for _, v := range Shown(a) {
		want[v.Path] = Pair{A: v, InA: true}
	}
	for _, v := range Shown(b) {
		p := want[v.Path]
		p.B, p.InB = v, true
		want[v.Path] = p
	}
	got := map[string]Pair{}
	ShownPairs(a, b, shared, func(p Pair) {
		path := p.A.Path
		if !p.InA {
			path = p.B.Path
		}
		if p.InA && p.InB && p.A.Path != p.B.Path {
			t.Errorf("a pair of two paths: %+v", p)
		}
		if _, ok := got[path]; ok {
			t.Errorf("%s paired twice", path)
		}
		got[path] = p
	})
	if !maps.Equal(got, want) {
		t.Errorf("shared %d of a %d layers, b %d:\n got %+v\nwant %+v", shared, len(a), len(b), got, want)
	}
}
