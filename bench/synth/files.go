package synth

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"

	"github.com/zeebo/xxh3"

	"github.com/layerq/layerq/internal/fileindex"
)

// The file indexes of the synthetic layers (Options.Files), of the shape
// real images have: a base's first layer a root filesystem of thousands of
// entries whose files mostly stay the same from build to build, package
// installs that rewrite the package database, apt lists downloaded in one
// step and removed in another, npm dependencies drawn from one popular
// pool (the same files in many layers), sources that change a few files a
// push, a build output copied into another directory and then chown-ed
// (every file copied up again). Each layer's entries follow from its key
// alone, so a layer reused by many images has one index.

// npmPackages is the pool applications draw their dependencies from.
const npmPackages = 2000

// contentDigest is the XXH3-128 a file's content would have: the same
// name, the same content, in whatever layer.
func contentDigest(name string) [16]byte {
	return xxh3.HashString128(name).Bytes()
}

// seedOf turns a layer's key into its random source's seed.
func seedOf(key string) uint64 {
	h := xxh3.HashString128(key).Bytes()
	return binary.LittleEndian.Uint64(h[:8])
}

// fileSize draws a file size: mostly small, a few large (up to ~2 MiB).
func fileSize(rng *rand.Rand) int64 {
	if rng.IntN(20) == 0 {
		return 64<<10 + rng.Int64N(2<<20)
	}
	return 64 + rng.Int64N(24<<10)
}

// files builds a layer's entries, with the dirs above each path made
// once, in the order a tar writer would.
type files struct {
	entries []fileindex.Entry
	dirs    map[string]bool
}

func (f *files) dir(p string) {
	if p == "." || f.dirs[p] {
		return
	}
	if i := lastSlash(p); i >= 0 {
		f.dir(p[:i])
	}
	f.dirs[p] = true
	f.entries = append(f.entries, fileindex.Entry{Path: p, Type: fileindex.Dir, Mode: 0o755})
}

func (f *files) file(p, content string, size int64, uid int) {
	if i := lastSlash(p); i >= 0 {
		f.dir(p[:i])
	}
	f.entries = append(f.entries, fileindex.Entry{Path: p, Type: fileindex.File, Size: size, Mode: 0o644, UID: uid, GID: uid,
		Digest: contentDigest(content)})
}

func (f *files) whiteout(p string) {
	if i := lastSlash(p); i >= 0 {
		f.dir(p[:i])
	}
	f.entries = append(f.entries, fileindex.Entry{Path: p, Type: fileindex.Whiteout})
}

func (f *files) symlink(p, target string) {
	if i := lastSlash(p); i >= 0 {
		f.dir(p[:i])
	}
	f.entries = append(f.entries, fileindex.Entry{Path: p, Type: fileindex.Symlink, Mode: 0o777, Link: target})
}

func lastSlash(p string) int {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return i
		}
	}
	return -1
}

// aptLists are the package lists apt-get update downloads.
var aptLists = []string{"deb.debian.org_debian_dists_bookworm_InRelease", "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4",
	"deb.debian.org_debian_dists_bookworm-updates_InRelease", "security.debian.org_dists_bookworm-security_main_binary-amd64_Packages.lz4"}

// baseEntries is the index of base k's build b, step j of n; derived: the
// base is built on another base (its first step is an install too).
func baseEntries(k, b, j, n int, derived bool) []fileindex.Entry {
	rng := rand.New(rand.NewPCG(seedOf(fmt.Sprint("base files ", k, " ", b, " ", j)), 3))
	f := &files{dirs: map[string]bool{}}
	status := func() {
		f.file("var/lib/dpkg/status", fmt.Sprint("dpkg status ", k, " ", b, " ", j), 180<<10+int64(j)*40<<10, 0)
	}
	if j == 0 && !derived { // the root filesystem
		for _, d := range []string{"bin", "etc", "lib", "root", "tmp", "usr/bin", "usr/lib", "usr/share/doc", "var/cache/apt", "var/lib/apt/lists", "var/log"} {
			f.dir(d)
		}
		f.symlink("lib64", "usr/lib64")
		nFiles := 1500 + rng.IntN(3000)
		for i := range nFiles {
			// Most files are the same in every build of the base; a tenth
			// change with each build (security updates).
			version := 0
			if rng.IntN(10) == 0 {
				version = b
			}
			dir := []string{"usr/bin", "usr/lib/x86_64-linux-gnu", "usr/share/doc/pkg", "usr/share/locale", "etc"}[i%5]
			size := fileSize(rng)
			f.file(fmt.Sprintf("%s/f%05d", dir, i), fmt.Sprint("os ", k, " file ", i, " v", version, " ", size), size, 0)
		}
		status()
		f.file("var/cache/apt/pkgcache.bin", fmt.Sprint("pkgcache ", k, " ", b), 12<<20+rng.Int64N(8<<20), 0)
		for _, l := range aptLists {
			f.file("var/lib/apt/lists/"+l, fmt.Sprint(l, " ", k, " ", b), 512<<10+rng.Int64N(8<<20), 0)
		}
		return f.entries
	}
	// A package install: its files, and the package database again.
	for i := range 100 + rng.IntN(900) {
		size := fileSize(rng)
		f.file(fmt.Sprintf("usr/lib/pkg%02d-%d/f%04d", k, j, i), fmt.Sprint("pkg ", k, " ", j, " file ", i, " ", size), size, 0)
	}
	status()
	if j == n-1 { // the cleanup step, separate from the installs
		f.whiteout("var/cache/apt/pkgcache.bin")
		for _, l := range aptLists {
			f.whiteout("var/lib/apt/lists/" + l)
		}
	}
	return f.entries
}

// appEntries is the index of an application layer made by step j of
// appSteps; key is the layer's, parent the key of the layer below it when
// it was built (step 6 copies step 5's files up).
func appEntries(j int, key, parent string) []fileindex.Entry {
	rng := rand.New(rand.NewPCG(seedOf("app files "+key), 5))
	f := &files{dirs: map[string]bool{}}
	switch j {
	case 0: // COPY package.json package-lock.json ./
		f.file("app/package.json", "package.json "+key, 600+rng.Int64N(2000), 0)
		f.file("app/package-lock.json", "package-lock.json "+key, 20<<10+rng.Int64N(400<<10), 0)
	case 1: // npm ci: popular packages, the same files wherever they are installed
		zipf := rand.NewZipf(rng, 1.1, 1, npmPackages-1)
		seen := map[uint64]bool{}
		for range 20 + rng.IntN(60) {
			p := zipf.Uint64()
			if seen[p] {
				continue
			}
			seen[p] = true
			prng := rand.New(rand.NewPCG(p, 11))
			for i := range 3 + prng.IntN(8) {
				size := fileSize(prng)
				f.file(fmt.Sprintf("app/node_modules/pkg-%04d/f%02d.js", p, i), fmt.Sprint("npm ", p, " ", i, " ", size), size, 0)
			}
		}
		// npm's cache, left in the layer (no --cache /tmp, no clean).
		for i := range 3 + rng.IntN(8) {
			f.file(fmt.Sprintf("root/.npm/_cacache/content-v2/sha512/%02x", i), fmt.Sprint("npm cache ", key, " ", i), 16<<10+rng.Int64N(512<<10), 0)
		}
	case 2: // COPY . .: sources, a few changed each push
		for i := range 20 + rng.IntN(60) {
			size := 200 + rng.Int64N(16<<10)
			f.file(fmt.Sprintf("app/src/m%03d.js", i), fmt.Sprint("src ", key, " ", i), size, 0)
		}
	case 3: // npm run build
		for i := range 5 + rng.IntN(25) {
			f.file(fmt.Sprintf("app/dist/c%03d.js", i), fmt.Sprint("dist ", key, " ", i), 2<<10+rng.Int64N(200<<10), 0)
		}
	case 4: // apt-get update && apt-get install -y curl, no cleanup
		for _, l := range aptLists {
			f.file("var/lib/apt/lists/"+l, fmt.Sprint(l, " app ", key), 512<<10+rng.Int64N(8<<20), 0)
		}
		f.file("usr/bin/curl", "curl 8.5.0", 280<<10, 0)
		f.file("usr/lib/x86_64-linux-gnu/libcurl.so.4.8.0", "libcurl 8.5.0", 720<<10, 0)
		f.file("var/lib/dpkg/status", "dpkg status app "+key, 260<<10, 0)
	case 5: // COPY --from=build /app/dist /srv
		distFiles(f, key, 0)
	case 6: // chown -R app /srv: every file copied up again
		distFiles(f, parent, 1000)
	}
	return f.entries
}

// distFiles are the files step 5 (layer key) copies into /srv, owned by uid.
func distFiles(f *files, key string, uid int) {
	rng := rand.New(rand.NewPCG(seedOf("srv files "+key), 7))
	for i := range 5 + rng.IntN(25) {
		f.file(fmt.Sprintf("srv/c%03d.js", i), fmt.Sprint("srv ", key, " ", i), 2<<10+rng.Int64N(200<<10), uid)
	}
}
