// Command benchregistry runs the CNCF distribution registry in-process on a
// loopback port, pushes one realistic image of about 150 MB to it and serves
// it until interrupted: the registry of bench/bloat_vs_dive.sh.
//
// With -empty it pushes nothing and prints "registry 127.0.0.1:PORT", then
// "ready": the registry, in its own process as it runs in production, that
// the scan benchmarks push their fixtures to (in the benchmark's process,
// the registry's garbage collection would scan the scanner's heap too).
//
// When the image is pushed it prints, one per line:
//
//	registry 127.0.0.1:PORT
//	image bench/app:1.0
//	digest sha256:...
//	layers N
//	size U bytes uncompressed, C bytes compressed
//	ready
//
// The image is built with internal/sample, so it is the same, digest for
// digest, on every run: a Debian-like root filesystem, an apt-get update
// layer whose lists a later layer deletes, packages, a downloaded tarball
// extracted to /tmp and deleted again with the whole directory, pip
// packages, the application, and a chmod of the application's large binary
// (which copies the whole file up into a new layer).
package main

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/layerq/layerq/internal/localregistry"
	"github.com/layerq/layerq/internal/sample"
)

func main() {
	ref := flag.String("image", "bench/app:1.0", "REPOSITORY:TAG to push the image as")
	empty := flag.Bool("empty", false, "push nothing: serve an empty registry")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *empty {
		ref = nil
	}
	if err := run(ctx, ref); err != nil {
		fmt.Fprintf(os.Stderr, "benchregistry: %v\n", err)
		os.Exit(1)
	}
}

// run serves the registry until ctx ends, with the image pushed as *ref
// first, or none for nil.
func run(ctx context.Context, ref *string) error {
	reg, err := localregistry.Start(ctx, localregistry.Options{})
	if err != nil {
		return fmt.Errorf("starting the registry: %w", err)
	}
	defer reg.Close()
	if ref == nil {
		fmt.Printf("registry %s\nready\n", reg.Host)
		<-ctx.Done()
		return nil
	}

	img, err := buildImage()
	if err != nil {
		return fmt.Errorf("building the image: %w", err)
	}
	tag, err := name.NewTag(reg.Host + "/" + *ref)
	if err != nil {
		return fmt.Errorf("parsing %s: %w", *ref, err)
	}
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("pushing %s: %w", tag, err)
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	var compressed, uncompressed int64
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return err
		}
		compressed += n
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return err
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return err
		}
		uncompressed += n
	}
	// The registry keeps its own copy of the blobs: give back the memory of
	// the image's, which nothing uses from here on.
	debug.FreeOSMemory()
	fmt.Printf("registry %s\nimage %s\ndigest %s\nlayers %d\nsize %d bytes uncompressed, %d bytes compressed\nready\n",
		reg.Host, *ref, d, len(cf.RootFS.DiffIDs), uncompressed, compressed)

	<-ctx.Done()
	return nil
}

// layer accumulates the tar entries of one layer, adding the entries of
// parent directories the first time a path below them is added, the way a
// layer diff lists the directories of what changed.
type layer struct {
	seed  string
	files []sample.File
	dirs  map[string]bool
}

func newLayer(seed string) *layer { return &layer{seed: seed, dirs: map[string]bool{}} }

func (l *layer) parents(p string) {
	dir := path.Dir(p)
	if dir == "." || l.dirs[dir] {
		return
	}
	l.parents(dir)
	l.dirs[dir] = true
	l.files = append(l.files, sample.File{Path: dir, Type: tar.TypeDir})
}

func (l *layer) add(f sample.File) {
	l.parents(f.Path)
	if f.Type == tar.TypeDir {
		if l.dirs[f.Path] {
			return
		}
		l.dirs[f.Path] = true
	}
	l.files = append(l.files, f)
}

// text adds a file of n bytes of text (source, documentation, package
// lists: compresses about 3:1).
func (l *layer) text(p string, n int) { l.add(sample.File{Path: p, Content: sample.Text(l.seed+p, n)}) }

// random adds a file of n incompressible bytes (archives, images, keys).
func (l *layer) random(p string, n int) {
	l.add(sample.File{Path: p, Content: sample.Bytes(l.seed+p, n)})
}

// exe adds an executable of n bytes that compresses like one.
func (l *layer) exe(p string, n int) {
	l.add(sample.File{Path: p, Content: machineCode(l.seed+p, n), Mode: 0o755})
}

// lib adds a shared library of n bytes.
func (l *layer) lib(p string, n int) {
	l.add(sample.File{Path: p, Content: machineCode(l.seed+p, n)})
}

func (l *layer) file(p string, content []byte, mode int64) {
	l.add(sample.File{Path: p, Content: content, Mode: mode})
}

func (l *layer) dir(p string) { l.add(sample.File{Path: p, Type: tar.TypeDir}) }
func (l *layer) symlink(p, target string) {
	l.add(sample.File{Path: p, Type: tar.TypeSymlink, Linkname: target})
}
func (l *layer) whiteout(p string) { l.add(sample.Whiteout(p)) }

// machineCode returns n bytes that compress roughly like an executable
// (about 2:1): 4 KiB chunks, a third incompressible, half text-like (string
// tables, symbols), the rest mostly zeros.
func machineCode(seed string, n int) []byte {
	b := make([]byte, 0, n+4096)
	b = append(b, 0x7f, 'E', 'L', 'F', 2, 1, 1, 0)
	for chunk := 0; len(b) < n; chunk++ {
		const size = 4096
		cs := seed + "#" + strconv.Itoa(chunk)
		switch pick(cs, 6) {
		case 0, 1:
			b = append(b, sample.Bytes(cs, size)...)
		case 2, 3, 4:
			b = append(b, sample.Text(cs, size)...)
		default:
			pad := make([]byte, size)
			copy(pad[pick(cs, size-64):], sample.Bytes(cs, 64))
			b = append(b, pad...)
		}
	}
	return b[:n:n]
}

// pick returns a number in [0, n) derived from s.
func pick(s string, n int) int {
	sum := sha256.Sum256([]byte(s))
	return int(binary.LittleEndian.Uint64(sum[:8]) % uint64(n))
}

// size returns a size in [lo, hi) derived from s, so that file sizes vary
// without changing between runs.
func size(s string, lo, hi int) int { return lo + pick("size:"+s, hi-lo) }

const (
	multiarch = "usr/lib/x86_64-linux-gnu/"
	aptLists  = "var/lib/apt/lists/"
	python    = "usr/lib/python3.11/"
	distPkgs  = "usr/local/lib/python3.11/dist-packages/"
	buildkit  = "buildkit.dockerfile.v0"
)

var debPackages = []string{"adduser", "apt", "base-files", "base-passwd", "bash",
	"bsdutils", "coreutils", "dash", "debconf", "debian-archive-keyring",
	"debianutils", "diffutils", "dpkg", "e2fsprogs", "findutils", "gcc-12-base",
	"gpgv", "grep", "gzip", "hostname", "init-system-helpers", "libacl1",
	"libapt-pkg6.0", "libattr1", "libaudit1", "libblkid1", "libbz2-1.0", "libc-bin",
	"libc6", "libcap2", "libcrypt1", "libdb5.3", "libffi8", "libgcc-s1", "libgcrypt20",
	"libgmp10", "libgnutls30", "libgpg-error0", "libhogweed6", "libidn2-0", "liblz4-1",
	"liblzma5", "libmd0", "libmount1", "libnettle8", "libp11-kit0", "libpam0g",
	"libpcre2-8-0", "libseccomp2", "libselinux1", "libsmartcols1", "libstdc++6",
	"libsystemd0", "libtasn1-6", "libtinfo6", "libudev1", "libunistring2", "libuuid1",
	"libzstd1", "login", "mawk", "mount", "ncurses-base", "ncurses-bin", "passwd",
	"perl-base", "sed", "sysvinit-utils", "tar", "tzdata", "util-linux", "zlib1g"}

var installed = []string{"ca-certificates", "curl", "libcurl4", "libpq5",
	"libpython3.11", "libpython3.11-stdlib", "libssl3", "openssl", "python3",
	"python3.11", "python3-pip", "libexpat1", "libsqlite3-0", "media-types"}

// rootfs is the base image's single layer, about 24 MB.
func rootfs() []sample.File {
	l := newLayer("bench-base:")
	l.symlink("bin", "usr/bin")
	l.dir("boot")
	l.dir("dev")
	l.file("etc/debian_version", []byte("12.7\n"), 0)
	l.file("etc/hostname", []byte("buildkitsandbox\n"), 0)
	l.file("etc/passwd", []byte("root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"), 0)
	l.file("etc/group", []byte("root:x:0:\nnogroup:x:65534:\n"), 0)
	l.text("etc/bash.bashrc", 1994)
	l.text("etc/login.defs", 12569)
	l.dir("home")
	l.symlink("lib", "usr/lib")
	l.symlink("lib64", "usr/lib64")
	l.add(sample.File{Path: "root", Type: tar.TypeDir, Mode: 0o700})
	l.symlink("sbin", "usr/sbin")
	l.add(sample.File{Path: "tmp", Type: tar.TypeDir, Mode: 0o1777})
	for i := range 70 {
		p := "usr/bin/tool" + strconv.Itoa(i)
		l.exe(p, size(p, 20_000, 180_000))
	}
	l.exe("usr/bin/bash", 1_265_000)
	l.exe("usr/bin/perl", 2_900_000)
	for i := range 45 {
		p := multiarch + "lib" + strconv.Itoa(i) + ".so.1"
		l.lib(p, size(p, 40_000, 300_000))
	}
	l.lib(multiarch+"libc.so.6", 1_922_000)
	l.lib(multiarch+"libstdc++.so.6.0.30", 2_190_000)
	l.lib(multiarch+"libapt-pkg.so.6.0.0", 1_960_000)
	l.lib(multiarch+"libcrypto.so.3", 1_600_000)
	for _, p := range debPackages {
		l.text("usr/share/doc/"+p+"/copyright", size(p, 1_500, 30_000))
		l.text("var/lib/dpkg/info/"+p+".list", size(p+".list", 300, 8_000))
		l.text("var/lib/dpkg/info/"+p+".md5sums", size(p+".md5sums", 300, 9_000))
	}
	for i := range 120 {
		p := "usr/share/zoneinfo/zone" + strconv.Itoa(i)
		l.random(p, size(p, 100, 3_000))
	}
	l.text("usr/share/perl5/Debconf/Config.pm", 20_000)
	l.text("var/lib/dpkg/status", 280_000)
	l.dir("var/cache/apt")
	l.dir(aptLists + "partial")
	l.dir("var/log")
	return l.files
}

// aptUpdate is what apt-get update leaves: about 20 MB of package lists.
func aptUpdate() []sample.File {
	l := newLayer("bench-apt-update:")
	for _, f := range aptListFiles {
		l.text(aptLists+f.name, f.size)
	}
	l.add(sample.File{Path: aptLists + "partial", Type: tar.TypeDir, Mode: 0o700})
	return l.files
}

var aptListFiles = []struct {
	name string
	size int
}{
	{"deb.debian.org_debian_dists_bookworm_InRelease", 151_000},
	{"deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages", 17_600_000},
	{"deb.debian.org_debian_dists_bookworm-updates_InRelease", 55_000},
	{"deb.debian.org_debian_dists_bookworm-updates_main_binary-amd64_Packages", 98_000},
	{"deb.debian.org_debian-security_dists_bookworm-security_InRelease", 48_000},
	{"deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages", 2_150_000},
	{"lock", 0},
}

// aptInstall installs python3 and the libraries of the application, about
// 24 MB; it rewrites dpkg's status file.
func aptInstall() []sample.File {
	l := newLayer("bench-apt-install:")
	l.text("etc/ssl/certs/ca-certificates.crt", 213_000)
	l.exe("usr/bin/python3.11", 6_830_000)
	l.symlink("usr/bin/python3", "python3.11")
	l.exe("usr/bin/curl", 280_000)
	l.exe("usr/bin/openssl", 990_000)
	for _, p := range []struct {
		name string
		n    int
	}{
		{"libcurl.so.4.8.0", 690_000}, {"libpq.so.5.15", 330_000}, {"libpython3.11.so.1.0", 5_500_000},
		{"libssl.so.3", 690_000}, {"libsqlite3.so.0.8.6", 1_450_000}, {"libexpat.so.1.8.10", 200_000},
	} {
		l.lib(multiarch+p.name, p.n)
	}
	for i := range 120 {
		p := python + "module" + strconv.Itoa(i) + ".py"
		l.text(p, size(p, 2_000, 60_000))
	}
	for _, p := range installed {
		l.text("usr/share/doc/"+p+"/copyright", size(p, 1_500, 20_000))
		l.text("var/lib/dpkg/info/"+p+".list", size(p+".list", 300, 40_000))
		l.text("var/lib/dpkg/info/"+p+".md5sums", size(p+".md5sums", 300, 40_000))
	}
	l.text("var/lib/dpkg/status", 330_000)
	l.text("var/log/apt/history.log", 2_300)
	l.text("var/log/dpkg.log", 48_000)
	return l.files
}

// aptClean is rm -rf /var/lib/apt/lists/*: a whiteout for each entry.
func aptClean() []sample.File {
	l := newLayer("bench-apt-clean:")
	l.dir(path.Clean(aptLists))
	for _, f := range aptListFiles {
		l.whiteout(aptLists + f.name)
	}
	l.whiteout(aptLists + "partial")
	return l.files
}

// node is the Node.js binary, extracted to /tmp and then copied out.
func node() []byte { return machineCode("bench-node:bin/node", 8_400_000) }

// nodeDownload downloads a tarball to /tmp and extracts it there, about
// 17 MB.
func nodeDownload() []sample.File {
	l := newLayer("bench-node:")
	l.random("tmp/node.tar.xz", 4_100_000)
	l.file("tmp/node/bin/node", node(), 0o755)
	for i := range 160 {
		p := "tmp/node/lib/node_modules/npm/lib/cmd" + strconv.Itoa(i) + ".js"
		l.text(p, size(p, 2_000, 26_000))
	}
	for i := range 60 {
		p := "tmp/node/include/node/header" + strconv.Itoa(i) + ".h"
		l.text(p, size(p, 2_000, 30_000))
	}
	return l.files
}

// nodeInstall copies the binary out of /tmp and removes the download and
// the extracted tree (a whiteout of the whole directory).
func nodeInstall() []sample.File {
	l := newLayer("bench-node:")
	l.dir("tmp")
	l.whiteout("tmp/node")
	l.whiteout("tmp/node.tar.xz")
	l.file("usr/local/bin/node", node(), 0o755)
	return l.files
}

// userAdd is useradd app.
func userAdd() []sample.File {
	l := newLayer("bench-useradd:")
	l.file("etc/passwd", []byte("root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\napp:x:1000:1000::/home/app:/bin/sh\n"), 0)
	l.file("etc/group", []byte("root:x:0:\nnogroup:x:65534:\napp:x:1000:\n"), 0)
	l.add(sample.File{Path: "etc/shadow", Content: []byte("root:*:19700:0:99999:7:::\napp:!:19700:0:99999:7:::\n"), Mode: 0o640, GID: 42})
	l.add(sample.File{Path: "home/app", Type: tar.TypeDir, UID: 1000, GID: 1000})
	l.text("var/log/lastlog", 300)
	return l.files
}

// requirements is COPY requirements.txt /tmp/.
func requirements() []sample.File {
	l := newLayer("bench-requirements:")
	l.file("tmp/requirements.txt", []byte("numpy==1.26.4\npsycopg==3.2.3\nsqlalchemy==2.0.36\nrequests==2.32.3\npydantic==2.9.2\n"), 0)
	return l.files
}

// pipInstall is the application's Python dependencies, about 14 MB.
func pipInstall() []sample.File {
	l := newLayer("bench-pip:")
	for _, p := range []struct {
		name    string
		modules int
		native  int
	}{
		{"numpy", 90, 5_600_000}, {"psycopg", 30, 0}, {"sqlalchemy", 80, 0},
		{"requests", 18, 0}, {"urllib3", 25, 0}, {"pydantic", 40, 0}, {"pydantic_core", 4, 1_900_000},
	} {
		for i := range p.modules {
			src := distPkgs + p.name + "/mod" + strconv.Itoa(i) + ".py"
			n := size(src, 1_000, 40_000)
			l.text(src, n)
			l.lib(distPkgs+p.name+"/__pycache__/mod"+strconv.Itoa(i)+".cpython-311.pyc", n*6/10)
		}
		if p.native > 0 {
			l.lib(distPkgs+p.name+"/_"+p.name+".cpython-311-x86_64-linux-gnu.so", p.native)
		}
		l.text(distPkgs+p.name+"-dist-info/RECORD", 200*p.modules)
		l.text(distPkgs+p.name+"-dist-info/METADATA", 4_000)
	}
	return l.files
}

// server is the application's binary.
func server() []byte { return machineCode("bench-app:bin/server", 16_500_000) }

// appCopy is COPY --chown=app:app . /app, about 24 MB.
func appCopy() []sample.File {
	l := newLayer("bench-app:")
	l.add(sample.File{Path: "app", Type: tar.TypeDir, UID: 1000, GID: 1000})
	l.add(sample.File{Path: "app/bin/server", Content: server(), UID: 1000, GID: 1000})
	for i := range 40 {
		p := "app/static/js/chunk" + strconv.Itoa(i) + ".js"
		l.add(sample.File{Path: p, Content: sample.Text("bench-app:"+p, size(p, 20_000, 180_000)), UID: 1000, GID: 1000})
	}
	for i := range 60 {
		p := "app/static/img/image" + strconv.Itoa(i) + ".png"
		l.add(sample.File{Path: p, Content: sample.Bytes("bench-app:"+p, size(p, 3_000, 60_000)), UID: 1000, GID: 1000})
	}
	for i := range 30 {
		p := "app/migrations/" + strconv.Itoa(1000+i) + "_schema.sql"
		l.add(sample.File{Path: p, Content: sample.Text("bench-app:"+p, size(p, 500, 8_000)), UID: 1000, GID: 1000})
	}
	return l.files
}

// chmodServer is RUN chmod +x /app/bin/server: the mode change copies the
// whole file up into the new layer.
func chmodServer() []sample.File {
	l := newLayer("bench-chmod:")
	l.add(sample.File{Path: "app", Type: tar.TypeDir, UID: 1000, GID: 1000})
	l.add(sample.File{Path: "app/bin", Type: tar.TypeDir, UID: 1000, GID: 1000})
	l.add(sample.File{Path: "app/bin/server", Content: server(), Mode: 0o755, UID: 1000, GID: 1000})
	return l.files
}

// config is COPY config.yaml /etc/app/config.yaml.
func config() []sample.File {
	l := newLayer("bench-config:")
	l.text("etc/app/config.yaml", 3_400)
	return l.files
}

// buildImage builds the image: 12 layers, about 150 MB uncompressed.
func buildImage() (v1.Image, error) {
	base, err := sample.Build(sample.Spec{
		Steps: []sample.Step{
			{CreatedBy: "ADD rootfs.tar.xz / # buildkit", Comment: buildkit, Files: rootfs()},
			{CreatedBy: `CMD ["bash"]`, Comment: buildkit, Empty: true},
		},
	})
	if err != nil {
		return nil, err
	}
	run := func(cmd string, files []sample.File) sample.Step {
		return sample.Step{CreatedBy: "RUN /bin/sh -c " + cmd + " # buildkit", Comment: buildkit, Files: files}
	}
	meta := func(cmd string) sample.Step {
		return sample.Step{CreatedBy: cmd, Comment: buildkit, Empty: true}
	}
	return sample.Build(sample.Spec{
		Base:    base,
		Created: sample.Epoch.Add(72 * time.Hour),
		Steps: []sample.Step{
			meta("ENV LANG=C.UTF-8"),
			run("apt-get update", aptUpdate()),
			run("apt-get install -y --no-install-recommends ca-certificates curl libpq5 python3 python3-pip", aptInstall()),
			run("rm -rf /var/lib/apt/lists/*", aptClean()),
			meta("ENV NODE_VERSION=20.18.0"),
			run(`curl -fsSL "https://nodejs.org/dist/v$NODE_VERSION/node-v$NODE_VERSION-linux-x64.tar.xz" -o /tmp/node.tar.xz && mkdir /tmp/node && tar -xJf /tmp/node.tar.xz -C /tmp/node --strip-components=1`, nodeDownload()),
			run("cp /tmp/node/bin/node /usr/local/bin/ && rm -rf /tmp/node /tmp/node.tar.xz", nodeInstall()),
			run("useradd --create-home app", userAdd()),
			{CreatedBy: "COPY requirements.txt /tmp/ # buildkit", Comment: buildkit, Files: requirements()},
			run("pip install --no-cache-dir --break-system-packages -r /tmp/requirements.txt", pipInstall()),
			meta("WORKDIR /app"),
			{CreatedBy: "COPY --chown=app:app . /app # buildkit", Comment: buildkit, Files: appCopy()},
			run("chmod +x /app/bin/server", chmodServer()),
			{CreatedBy: "COPY config.yaml /etc/app/config.yaml # buildkit", Comment: buildkit, Files: config()},
			meta("USER app"),
			meta("EXPOSE map[8080/tcp:{}]"),
			meta(`CMD ["/app/bin/server"]`),
		},
	})
}
