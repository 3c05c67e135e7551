package sample

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Kinds of demo references (Pushed.Kind, DemoItem.Kind).
const (
	KindImage    = "image"    // an image manifest
	KindIndex    = "index"    // an image index / manifest list
	KindArtifact = "artifact" // an OCI artifact manifest (with a subject)
)

// Pushed describes one pushed reference.
type Pushed struct {
	// Repository is the repository path without the registry host, e.g.
	// "library/debian".
	Repository string
	// Tag is the tag pushed, e.g. "12".
	Tag string
	// Digest is the manifest digest, e.g. "sha256:...".
	Digest string
	// Kind is KindImage, KindIndex or KindArtifact.
	Kind string
}

// DemoItem is one tagged reference of the demo content, not yet pushed.
type DemoItem struct {
	// Repository and Tag name the reference, e.g. "team-a/api" and "1.0".
	Repository, Tag string
	// Kind is KindImage, KindIndex or KindArtifact.
	Kind string
	// Image is set for KindImage and KindArtifact.
	Image v1.Image
	// Index is set for KindIndex.
	Index v1.ImageIndex
}

// Digest returns the manifest digest of the item's image or index.
func (it DemoItem) Digest() (v1.Hash, error) {
	if it.Index != nil {
		return it.Index.Digest()
	}
	return it.Image.Digest()
}

const buildkit = "buildkit.dockerfile.v0"

func day(n int) time.Time { return Epoch.Add(time.Duration(n) * 24 * time.Hour) }

// DemoContent builds the demo registry content, in push order:
//
//	library/debian:12         image, 1 layer (Docker)
//	library/alpine:3.20       index of linux/amd64 and linux/arm64/v8, 1 layer each (OCI)
//	library/python:3.12       FROM debian, +2 layers
//	team-a/api:1.0            FROM python, +3 layers (base.name/base.digest annotations)
//	team-a/worker:1.0         FROM python, +3 layers
//	team-b/web:2.3            FROM alpine amd64, +3 layers
//	team-b/web:2.4            same as 2.3 but the last COPY layer
//	team-c/legacy:1.0         FROM debian, +5 layers (apt lists added then whited out, chmod copy-up)
//	team-a/api:1.0-rebuild    team-a/api:1.0 with app files one day newer: 3 new layer digests
//	mirror/python:3.12-zstd   library/python:3.12 recompressed with zstd (OCI)
//	library/debian:12         pushed again: the 12.8 point release (+libssl3)
//	team-c/legacy:1.1         legacy on debian 12.8, its payload 900 kB larger
//	team-a/api:sha256-<hex>.sbom  SPDX SBOM artifact whose subject is team-a/api:1.0
//
// The content is deterministic: every call returns the same digests.
func DemoContent() ([]DemoItem, error) {
	var items []DemoItem
	image := func(repo, tag string, img v1.Image) {
		items = append(items, DemoItem{Repository: repo, Tag: tag, Kind: KindImage, Image: img})
	}

	debian, err := demoDebian("12.7")
	if err != nil {
		return nil, fmt.Errorf("debian: %w", err)
	}
	image("library/debian", "12", debian)

	alpine, alpineAMD64, err := demoAlpine()
	if err != nil {
		return nil, fmt.Errorf("alpine: %w", err)
	}
	items = append(items, DemoItem{Repository: "library/alpine", Tag: "3.20", Kind: KindIndex, Index: alpine})

	python, err := demoPython(debian)
	if err != nil {
		return nil, fmt.Errorf("python: %w", err)
	}
	image("library/python", "3.12", python)

	api, err := demoTeamA(python, "api", apiPackages, day(2), time.Time{})
	if err != nil {
		return nil, fmt.Errorf("team-a/api: %w", err)
	}
	image("team-a/api", "1.0", api)

	worker, err := demoTeamA(python, "worker", workerPackages, day(2).Add(time.Hour), time.Time{})
	if err != nil {
		return nil, fmt.Errorf("team-a/worker: %w", err)
	}
	image("team-a/worker", "1.0", worker)

	for _, v := range []struct {
		tag     string
		created time.Time
	}{{"2.3", day(3)}, {"2.4", day(4)}} {
		web, err := demoWeb(alpineAMD64, v.tag, v.created)
		if err != nil {
			return nil, fmt.Errorf("team-b/web:%s: %w", v.tag, err)
		}
		image("team-b/web", v.tag, web)
	}

	legacy, err := demoLegacy(debian, "1.0")
	if err != nil {
		return nil, fmt.Errorf("team-c/legacy: %w", err)
	}
	image("team-c/legacy", "1.0", legacy)

	rebuild, err := demoTeamA(python, "api", apiPackages, day(2), Epoch.Add(24*time.Hour))
	if err != nil {
		return nil, fmt.Errorf("team-a/api rebuild: %w", err)
	}
	image("team-a/api", "1.0-rebuild", rebuild)

	zpython, err := Recompress(python, Zstd, OCI)
	if err != nil {
		return nil, fmt.Errorf("python zstd: %w", err)
	}
	image("mirror/python", "3.12-zstd", zpython)

	// Debian's next point release, pushed over library/debian:12: the
	// images built on 12.7 are now on a stale build; team-c/legacy:1.1 is
	// built on 12.8, with a larger payload.
	debian128, err := demoDebian("12.8")
	if err != nil {
		return nil, fmt.Errorf("debian 12.8: %w", err)
	}
	image("library/debian", "12", debian128)
	legacy11, err := demoLegacy(debian128, "1.1")
	if err != nil {
		return nil, fmt.Errorf("team-c/legacy:1.1: %w", err)
	}
	image("team-c/legacy", "1.1", legacy11)

	subject, err := partial.Descriptor(api)
	if err != nil {
		return nil, err
	}
	sbom, err := demoSBOM(api, "team-a/api:1.0")
	if err != nil {
		return nil, err
	}
	art, err := Artifact("application/spdx+json", sbom, *subject)
	if err != nil {
		return nil, err
	}
	items = append(items, DemoItem{
		Repository: "team-a/api",
		Tag:        strings.Replace(subject.Digest.String(), ":", "-", 1) + ".sbom",
		Kind:       KindArtifact,
		Image:      art,
	})
	return items, nil
}

// demoDebian builds library/debian:12 at a point release: 12.7, or 12.8
// (a day later, with libssl3), a rebuild of the same tag.
func demoDebian(point string) (v1.Image, error) {
	created := Epoch
	if point != "12.7" {
		created = day(6)
	}
	rootfs := debianRootfs(point)
	return Build(Spec{
		Steps: []Step{
			{CreatedBy: "/bin/sh -c #(nop) ADD file:" + fileHex(rootfs) + " in / ", Files: rootfs},
			{CreatedBy: `/bin/sh -c #(nop)  CMD ["bash"]`, Empty: true},
		},
		Created: created,
	})
}

// demoAlpine returns the alpine index and its linux/amd64 image.
func demoAlpine() (v1.ImageIndex, v1.Image, error) {
	var imgs []v1.Image
	var platforms []v1.Platform
	for _, a := range []struct{ arch, variant, march string }{
		{"amd64", "", "x86_64"}, {"arm64", "v8", "aarch64"},
	} {
		img, err := Build(Spec{
			Steps: []Step{
				{CreatedBy: "ADD alpine-minirootfs-3.20.3-" + a.march + ".tar.gz / # buildkit", Comment: buildkit, Files: alpineRootfs(a.arch)},
				{CreatedBy: `CMD ["/bin/sh"]`, Comment: buildkit, Empty: true},
			},
			Created: Epoch.Add(2 * time.Hour),
			Arch:    a.arch,
			Variant: a.variant,
			Format:  OCI,
		})
		if err != nil {
			return nil, nil, err
		}
		imgs = append(imgs, img)
		platforms = append(platforms, v1.Platform{OS: "linux", Architecture: a.arch, Variant: a.variant})
	}
	idx, err := Index(imgs, platforms, OCI)
	return idx, imgs[0], err
}

const pythonPath = "PATH=/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func demoPython(debian v1.Image) (v1.Image, error) {
	return Build(Spec{
		Base: debian,
		Steps: []Step{
			{CreatedBy: "ENV " + pythonPath, Comment: buildkit, Empty: true},
			{CreatedBy: "ENV LANG=C.UTF-8", Comment: buildkit, Empty: true},
			{CreatedBy: "RUN /bin/sh -c set -eux; apt-get update; apt-get install -y --no-install-recommends ca-certificates; rm -rf /var/lib/apt/lists/* # buildkit", Comment: buildkit, Files: caCertificates()},
			{CreatedBy: "ENV PYTHON_VERSION=3.12.7", Comment: buildkit, Empty: true},
			{CreatedBy: `RUN /bin/sh -c set -eux; wget -O python.tar.xz "https://www.python.org/ftp/python/${PYTHON_VERSION%%[a-z]*}/Python-$PYTHON_VERSION.tar.xz"; mkdir -p /usr/src/python; tar --extract --directory /usr/src/python --strip-components=1 --file python.tar.xz; cd /usr/src/python; ./configure --enable-loadable-sqlite-extensions --enable-optimizations --enable-shared --with-ensurepip; make -j "$(nproc)"; make install; cd /; rm -rf /usr/src/python; python3 --version # buildkit`, Comment: buildkit, Files: pythonBuild()},
			{CreatedBy: `CMD ["python3"]`, Comment: buildkit, Empty: true},
		},
		Created: day(1),
		Labels:  map[string]string{"org.opencontainers.image.version": "3.12.7"},
	})
}

// demoTeamA builds team-a/<app>:1.0 on python; a non-zero mtime sets the
// modification time of the app's own files (the rebuild).
func demoTeamA(python v1.Image, app string, pkgs []pyPkg, created, mtime time.Time) (v1.Image, error) {
	pd, err := python.Digest()
	if err != nil {
		return nil, err
	}
	reqs := requirements(pkgs)

	copyReqs := newTree("team-a/"+app, mtime)
	copyReqs.file("app/requirements.txt", reqs)

	pip := newTree("team-a/"+app, mtime)
	pipInstall(pip, pkgs)
	scripts := map[string]string{"api": "uvicorn", "worker": "celery"}
	pip.script("usr/local/bin/"+scripts[app], []byte("#!/usr/local/bin/python3.12\n# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom "+scripts[app]+".main import main\nif __name__ == '__main__':\n    sys.exit(main())\n"))

	src := newTree("team-a/"+app+"@1.0", mtime)
	src.str("app/.dockerignore", ".git\n__pycache__\n*.pyc\n")
	src.str("app/Dockerfile", "FROM library/python:3.12\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install --no-cache-dir -r requirements.txt\nCOPY . .\n")
	src.text("app/README.md", 3_200)
	src.file("app/requirements.txt", reqs)
	var cmd string
	if app == "api" {
		src.text("app/main.py", 4_800)
		src.text("app/api/__init__.py", 120)
		src.text("app/api/models.py", 9_000)
		src.text("app/api/routes.py", 21_000)
		src.random("app/static/logo.png", 28_000)
		cmd = `CMD ["uvicorn" "main:app" "--host" "0.0.0.0" "--port" "8000"]`
	} else {
		src.text("app/tasks.py", 14_000)
		src.text("app/celeryconfig.py", 1_500)
		src.text("app/jobs/reports.py", 17_000)
		cmd = `CMD ["celery" "-A" "tasks" "worker" "--loglevel=INFO"]`
	}

	return Build(Spec{
		Base: python,
		Steps: []Step{
			{CreatedBy: "WORKDIR /app", Comment: buildkit, Empty: true},
			{CreatedBy: "COPY requirements.txt . # buildkit", Comment: buildkit, Files: copyReqs.files},
			{CreatedBy: "RUN /bin/sh -c pip install --no-cache-dir -r requirements.txt # buildkit", Comment: buildkit, Files: pip.files},
			{CreatedBy: "COPY . . # buildkit", Comment: buildkit, Files: src.files},
			{CreatedBy: "ENV PYTHONUNBUFFERED=1", Comment: buildkit, Empty: true},
			{CreatedBy: cmd, Comment: buildkit, Empty: true},
		},
		Created: created,
		Labels: map[string]string{
			"org.opencontainers.image.source":  "https://git.example.com/team-a/" + app,
			"org.opencontainers.image.version": "1.0",
		},
		Annotations: map[string]string{
			"org.opencontainers.image.base.name":   "library/python:3.12",
			"org.opencontainers.image.base.digest": pd.String(),
		},
	})
}

func demoWeb(alpine v1.Image, version string, created time.Time) (v1.Image, error) {
	nginx := newTree("team-b/web:nginx", time.Time{})
	nginx.str("etc/apk/world", "alpine-baselayout\nalpine-keys\napk-tools\nbusybox\nlibc-utils\nnginx\n")
	nginx.text("etc/nginx/fastcgi_params", 1_000)
	nginx.text("etc/nginx/mime.types", 5_300)
	nginx.text("etc/nginx/nginx.conf", 3_200)
	nginx.dir("etc/nginx/http.d")
	nginx.str("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nbin:x:1:1:bin:/bin:/sbin/nologin\nnginx:x:100:101:nginx:/var/lib/nginx:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n")
	nginx.text("lib/apk/db/installed", 74_000)
	nginx.lib("lib/libpcre2-8.so.0.12.0", 420_000)
	nginx.symlink("lib/libpcre2-8.so.0", "libpcre2-8.so.0.12.0")
	nginx.exe("usr/sbin/nginx", 1_150_000)
	nginx.dir("usr/lib/nginx/modules")
	nginx.add(File{Path: "var/lib/nginx", Type: tar.TypeDir, Mode: 0o750, UID: 100, GID: 101})
	nginx.add(File{Path: "var/log/nginx", Type: tar.TypeDir, Mode: 0o750, UID: 100, GID: 101})

	conf := newTree("team-b/web:conf", time.Time{})
	conf.text("etc/nginx/http.d/default.conf", 1_400)

	// Only the bundle differs between versions.
	dist := newTree("team-b/web@"+version, time.Time{})
	hash := fileHex([]File{{Path: version}})[:8]
	dist.text("usr/share/nginx/html/index.html", 2_100)
	dist.text("usr/share/nginx/html/assets/index-"+hash+".js", 380_000)
	dist.text("usr/share/nginx/html/assets/index-"+hash+".css", 46_000)
	dist.random("usr/share/nginx/html/favicon.ico", 15_086)

	return Build(Spec{
		Base: alpine,
		Steps: []Step{
			{CreatedBy: "RUN /bin/sh -c apk add --no-cache nginx # buildkit", Comment: buildkit, Files: nginx.files},
			{CreatedBy: "COPY nginx.conf /etc/nginx/http.d/default.conf # buildkit", Comment: buildkit, Files: conf.files},
			{CreatedBy: "COPY dist/ /usr/share/nginx/html/ # buildkit", Comment: buildkit, Files: dist.files},
			{CreatedBy: "EXPOSE map[80/tcp:{}]", Comment: buildkit, Empty: true},
			{CreatedBy: `CMD ["nginx" "-g" "daemon off;"]`, Comment: buildkit, Empty: true},
		},
		Created: created,
		Labels:  map[string]string{"org.opencontainers.image.version": version},
	})
}

// aptLists are the files "apt-get update" writes under var/lib/apt/lists.
var aptLists = []struct {
	name string
	size int
	text bool
}{
	{"deb.debian.org_debian_dists_bookworm_InRelease", 151_000, true},
	{"deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4", 2_380_000, false},
	{"deb.debian.org_debian_dists_bookworm-updates_InRelease", 55_000, true},
	{"deb.debian.org_debian_dists_bookworm-updates_main_binary-amd64_Packages.lz4", 9_000, false},
	{"deb.debian.org_debian-security_dists_bookworm-security_InRelease", 48_000, true},
	{"deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages.lz4", 330_000, false},
	{"lock", 0, false},
}

// demoLegacy builds team-c/legacy at version ("1.0"; "1.1", two days
// later, carries a payload larger by 900 kB).
func demoLegacy(debian v1.Image, version string) (v1.Image, error) {
	payload, created := 640_000, day(5)
	if version != "1.0" {
		payload, created = 1_540_000, day(7)
	}
	update := newTree("team-c/legacy", time.Time{})
	for _, l := range aptLists {
		if l.text {
			update.text("var/lib/apt/lists/"+l.name, l.size)
		} else {
			update.random("var/lib/apt/lists/"+l.name, l.size)
		}
	}
	update.dirMode("var/lib/apt/lists/partial", 0o700)

	install := newTree("team-c/legacy", time.Time{})
	install.exe("usr/bin/curl", 280_000)
	const multiarch = "usr/lib/x86_64-linux-gnu/"
	for _, l := range []struct {
		name, soname string
		size         int
	}{
		{"libcurl.so.4.8.0", "libcurl.so.4", 690_000},
		{"libnghttp2.so.14.24.1", "libnghttp2.so.14", 170_000},
		{"libssh2.so.1.0.1", "libssh2.so.1", 250_000},
	} {
		install.lib(multiarch+l.name, l.size)
		install.symlink(multiarch+l.soname, l.name)
	}
	install.text("usr/share/doc/curl/copyright", 12_000)
	added := []string{"curl", "libcurl4", "libnghttp2-14", "libssh2-1"}
	install.file("var/lib/dpkg/status", dpkgStatus(append(append([]string(nil), debianPackages...), added...)))
	for _, p := range added {
		install.text("var/lib/dpkg/info/"+p+".list", 1_200)
		install.text("var/lib/dpkg/info/"+p+".md5sums", 900)
	}
	install.text("var/log/apt/history.log", 1_900)
	install.text("var/log/dpkg.log", 11_000)

	clean := newTree("team-c/legacy", time.Time{})
	clean.dir("var/lib/apt/lists")
	for _, l := range aptLists {
		clean.add(Whiteout("var/lib/apt/lists/" + l.name))
	}
	clean.add(Whiteout("var/lib/apt/lists/partial"))

	runSh := append([]byte("#!/bin/sh\n# legacy installer: self-extracting payload follows\nset -e\nARCHIVE=$(awk '/^__PAYLOAD__/ {print NR + 1; exit 0; }' \"$0\")\ntail -n+$ARCHIVE \"$0\" | tar xz -C /opt/legacy\nexec /opt/legacy/bin/server \"$@\"\n__PAYLOAD__\n"),
		Bytes("team-c/legacy:payload", payload)...)
	cp := newTree("team-c/legacy", time.Time{})
	cp.file("app/run.sh", runSh)
	chmod := newTree("team-c/legacy", time.Time{})
	chmod.script("app/run.sh", runSh)

	return Build(Spec{
		Base: debian,
		Steps: []Step{
			{CreatedBy: "/bin/sh -c apt-get update", Files: update.files},
			{CreatedBy: "/bin/sh -c apt-get install -y curl", Files: install.files},
			{CreatedBy: "/bin/sh -c rm -rf /var/lib/apt/lists/*", Files: clean.files},
			{CreatedBy: "/bin/sh -c #(nop) COPY file:" + fileHex(cp.files) + " in /app/ ", Files: cp.files},
			{CreatedBy: "/bin/sh -c chmod 0755 /app/run.sh", Files: chmod.files},
			{CreatedBy: `/bin/sh -c #(nop)  CMD ["/app/run.sh"]`, Empty: true},
		},
		Created: created,
	})
}

// demoSBOM renders a small SPDX 2.3 document describing img.
func demoSBOM(img v1.Image, ref string) ([]byte, error) {
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	type pkg struct {
		SPDXID           string `json:"SPDXID"`
		Name             string `json:"name"`
		VersionInfo      string `json:"versionInfo,omitempty"`
		DownloadLocation string `json:"downloadLocation"`
		FilesAnalyzed    bool   `json:"filesAnalyzed"`
	}
	doc := struct {
		SPDXVersion       string `json:"spdxVersion"`
		DataLicense       string `json:"dataLicense"`
		SPDXID            string `json:"SPDXID"`
		Name              string `json:"name"`
		DocumentNamespace string `json:"documentNamespace"`
		CreationInfo      struct {
			Created  string   `json:"created"`
			Creators []string `json:"creators"`
		} `json:"creationInfo"`
		Packages []pkg `json:"packages"`
	}{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            "SPDXRef-DOCUMENT",
		Name:              ref,
		DocumentNamespace: "https://sbom.example.com/" + ref + "/" + d.Hex,
	}
	doc.CreationInfo.Created = day(2).Add(time.Hour).Format(time.RFC3339)
	doc.CreationInfo.Creators = []string{"Tool: layerq-sample"}
	for _, p := range apiPackages {
		doc.Packages = append(doc.Packages, pkg{"SPDXRef-pypi-" + p.name, p.name, p.version, "https://pypi.org/project/" + p.name, false})
	}
	for _, p := range debianPackages {
		doc.Packages = append(doc.Packages, pkg{"SPDXRef-deb-" + strings.NewReplacer("+", "p", ".", "-").Replace(p), p, "", "NOASSERTION", false})
	}
	return json.MarshalIndent(doc, "", "  ")
}

// Demo pushes the demo registry content (see DemoContent) to the registry
// at host, e.g. "127.0.0.1:5000", using remote.Write and remote.WriteIndex
// with opts, and returns what it pushed in push order.
//
// Plain HTTP is used for localhost, loopback and private addresses (the
// go-containerregistry rules); prefix host with "http://" to force plain
// HTTP for any host. Layers already pushed to another demo repository are
// cross-repository mounted rather than uploaded again. Pushing the SBOM also
// makes go-containerregistry maintain the referrers fallback tag
// (team-a/api:sha256-<hex>) when the registry lacks the referrers API; that
// tag is not listed.
func Demo(ctx context.Context, host string, opts ...remote.Option) ([]Pushed, error) {
	var nameOpts []name.Option
	if h, ok := strings.CutPrefix(host, "http://"); ok {
		host = h
		nameOpts = append(nameOpts, name.Insecure)
	} else {
		host = strings.TrimPrefix(host, "https://")
	}
	host = strings.TrimSuffix(host, "/")

	items, err := DemoContent()
	if err != nil {
		return nil, fmt.Errorf("sample: demo content: %w", err)
	}
	opts = append(append([]remote.Option(nil), opts...), remote.WithContext(ctx))

	// Repository each layer blob was first pushed to, for mounting.
	pushedIn := map[v1.Hash]name.Repository{}
	var out []Pushed
	for _, it := range items {
		ref, err := name.NewTag(host+"/"+it.Repository+":"+it.Tag, nameOpts...)
		if err != nil {
			return out, fmt.Errorf("sample: %s:%s: %w", it.Repository, it.Tag, err)
		}
		repo := ref.Context()
		var imgs []v1.Image
		if it.Index != nil {
			if err := remote.WriteIndex(ref, it.Index, opts...); err != nil {
				return out, fmt.Errorf("sample: push %s: %w", ref, err)
			}
			im, err := it.Index.IndexManifest()
			if err != nil {
				return out, err
			}
			for _, desc := range im.Manifests {
				img, err := it.Index.Image(desc.Digest)
				if err != nil {
					return out, err
				}
				imgs = append(imgs, img)
			}
		} else {
			img, err := mountable(it.Image, repo, pushedIn)
			if err != nil {
				return out, err
			}
			if err := remote.Write(ref, img, opts...); err != nil {
				return out, fmt.Errorf("sample: push %s: %w", ref, err)
			}
			imgs = append(imgs, it.Image)
		}
		for _, img := range imgs {
			ls, err := img.Layers()
			if err != nil {
				return out, err
			}
			for _, l := range ls {
				d, err := l.Digest()
				if err != nil {
					return out, err
				}
				if _, ok := pushedIn[d]; !ok {
					pushedIn[d] = repo
				}
			}
		}
		d, err := it.Digest()
		if err != nil {
			return out, err
		}
		out = append(out, Pushed{Repository: it.Repository, Tag: it.Tag, Digest: d.String(), Kind: it.Kind})
	}
	return out, nil
}

// mountImage is an image whose layers are presented as mountable from the
// repositories they were already pushed to.
type mountImage struct {
	v1.Image
	layers []v1.Layer
}

func (m mountImage) Layers() ([]v1.Layer, error) { return m.layers, nil }

// mountable wraps img so that remote.Write mounts the layers already in
// another repository of the same registry instead of uploading them.
func mountable(img v1.Image, repo name.Repository, pushedIn map[v1.Hash]name.Repository) (v1.Image, error) {
	ls, err := img.Layers()
	if err != nil {
		return nil, err
	}
	wrapped := make([]v1.Layer, len(ls))
	mounted := false
	for i, l := range ls {
		wrapped[i] = l
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		if from, ok := pushedIn[d]; ok && from.String() != repo.String() {
			wrapped[i] = &remote.MountableLayer{Layer: l, Reference: from.Digest(d.String())}
			mounted = true
		}
	}
	if !mounted {
		return img, nil
	}
	return mountImage{Image: img, layers: wrapped}, nil
}
