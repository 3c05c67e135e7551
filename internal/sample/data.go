package sample

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"strings"
)

// rng is a splitmix64 generator. It is implemented here (rather than taken
// from math/rand) so that the generated content can never change with the Go
// version: the demo images' digests depend on it.
type rng struct{ s uint64 }

func newRNG(seed string) *rng {
	sum := sha256.Sum256([]byte(seed))
	return &rng{s: binary.LittleEndian.Uint64(sum[:8])}
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a value in [0, n); n must be > 0. The slight modulo bias is
// irrelevant for content generation.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// Bytes returns n deterministic pseudo-random bytes derived from seed. The
// output does not compress (like already-compressed or encrypted data); the
// same seed always yields the same bytes, and a shorter n yields a prefix of a
// longer one.
func Bytes(seed string, n int) []byte {
	if n <= 0 {
		return []byte{}
	}
	r := newRNG("bytes\x00" + seed)
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.next())
	}
	return b[:n:n]
}

// vocabulary for Text: a mix of prose, shell and source-code tokens. Earlier
// words are picked more often, which gives Text a realistic compression ratio
// (about 3:1 with gzip).
var vocabulary = strings.Fields(`
the of and to a in is that for it as with be on not this by are or from at
an which have if return self def import None True False var const func let
int string error nil err data value name type file path config if else for
while case break continue default package module class public private static
void new try catch throw finally usr lib bin etc share local include doc man
install build make test debug release version license copyright free software
GNU General Public License without warranty see details distributed hope useful
Debian Python package depends provides conflicts replaces section priority
optional required important standard architecture amd64 arm64 all maintainer
description homepage source status installed ok unpacked config-files
http https www org com net example server client request response header
body json yaml xml html css script style div span table row column index key
map list set dict tuple array buffer stream reader writer open close read write
seek flush sync lock unlock mutex thread process signal pipe socket bind listen
accept connect send recv timeout retry cache hash digest layer image manifest
registry tag blob upload download mount push pull commit history created by
0 1 2 3 4 5 6 7 8 9 10 16 32 64 100 128 255 256 512 1024 4096 65535
{ } ( ) [ ] = == != < > <= >= + - * / % && || ! : ; , . -> => :: #
`)

// Text returns n deterministic bytes of word-like, line-broken text derived
// from seed. Unlike Bytes it compresses well, like source code, documentation
// and package databases do.
func Text(seed string, n int) []byte {
	if n <= 0 {
		return []byte{}
	}
	r := newRNG("text\x00" + seed)
	b := make([]byte, 0, n+256)
	line := 0
	for len(b) < n {
		v := r.next()
		if v&0x7 == 0 && len(b) > 256 {
			// Repeat a recent phrase, as code and config files do.
			start := len(b) - 256 + int((v>>3)&0xff)
			end := min(start+16+int((v>>11)&0x1f), len(b))
			b = append(b, b[start:end]...)
			line += end - start
			continue
		}
		// Skewed pick: the product of three uniform values favours the
		// first words of the vocabulary.
		x := (v >> 8) & 0x3ff
		y := (v >> 18) & 0x3ff
		z := (v >> 28) & 0x3ff
		i := int(x * y * z * uint64(len(vocabulary)) >> 30)
		w := vocabulary[i]
		if line > 0 {
			b = append(b, ' ')
			line++
		}
		b = append(b, w...)
		line += len(w)
		if (v>>40)&0x3f == 0 {
			b = append(b, '.')
		}
		if line >= 60+int((v>>48)&0x1f) {
			b = append(b, '\n')
			line = 0
		}
	}
	return b[:n:n]
}

// binaryData returns n bytes that compress roughly like an executable or a
// shared library (about 2.5:1): an ELF-like header followed by a mix of
// incompressible code-like chunks, text (string tables) and sparse padding.
func binaryData(seed string, n int) []byte {
	if n <= 0 {
		return []byte{}
	}
	b := make([]byte, 0, n+4096)
	b = append(b, 0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	r := newRNG("bin\x00" + seed)
	for chunk := 0; len(b) < n; chunk++ {
		const size = 4096
		cs := seed + "#" + strconv.Itoa(chunk)
		switch r.intn(4) {
		case 0:
			b = append(b, Bytes(cs, size)...)
		case 1, 2:
			b = append(b, Text(cs, size)...)
		default:
			pad := make([]byte, size)
			for i := 0; i < 64; i++ {
				pad[r.intn(size)] = byte(r.next())
			}
			b = append(b, pad...)
		}
	}
	return b[:n:n]
}
