package pglaunch

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ErrNoBinaries is returned by FindBinaries and Start when the PostgreSQL
// server binaries cannot be found.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, postgres, pg_ctl) not found on PATH or under /usr/lib/postgresql/*/bin; install them (Debian/Ubuntu: apt-get install postgresql) or point LAYERQ_TEST_DATABASE_URL / DATABASE_URL at a server")

// serverBinaries are the programs a bin directory must contain.
var serverBinaries = []string{"initdb", "postgres", "pg_ctl"}

// versionedBinGlob matches the per-version bin directories of Debian-style
// installations, which do not put initdb and postgres on PATH. A variable so
// tests can hide them.
var versionedBinGlob = "/usr/lib/postgresql/*/bin"

// FindBinaries returns a directory holding initdb, postgres and pg_ctl. It
// looks for initdb on PATH first (following symlinks to the real directory),
// then in the newest /usr/lib/postgresql/*/bin. It returns ErrNoBinaries if
// none has all three.
func FindBinaries() (binDir string, err error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		candidates := []string{}
		if real, err := filepath.EvalSymlinks(p); err == nil {
			candidates = append(candidates, filepath.Dir(real))
		}
		candidates = append(candidates, filepath.Dir(p))
		for _, dir := range candidates {
			if hasServerBinaries(dir) {
				return filepath.Abs(dir)
			}
		}
	}
	dirs, _ := filepath.Glob(versionedBinGlob)
	sort.Slice(dirs, func(i, j int) bool {
		return versionLess(versionOf(dirs[j]), versionOf(dirs[i]))
	})
	for _, dir := range dirs {
		if hasServerBinaries(dir) {
			return dir, nil
		}
	}
	return "", ErrNoBinaries
}

// hasServerBinaries reports whether dir holds every server binary as an
// executable file.
func hasServerBinaries(dir string) bool {
	for _, name := range serverBinaries {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// versionOf parses the version directory of /usr/lib/postgresql/<v>/bin
// into numeric parts ("9.6" -> [9 6]); unparsable parts count as 0.
func versionOf(binDir string) []int {
	var parts []int
	for _, s := range strings.Split(filepath.Base(filepath.Dir(binDir)), ".") {
		n, _ := strconv.Atoi(s)
		parts = append(parts, n)
	}
	return parts
}

// versionLess compares two versions from versionOf.
func versionLess(a, b []int) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}
