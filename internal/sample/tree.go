package sample

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"path"
	"strconv"
	"strings"
	"time"
)

// tree accumulates the entries of one demo layer. Adding an entry first adds
// directory entries for its ancestors not yet in the tree, the way a layer
// diff lists the (modified) parent directories of what changed.
type tree struct {
	seed  string    // content seed prefix: same seed and path give same content
	mtime time.Time // ModTime of every entry; zero means Epoch
	files []File
	dirs  map[string]bool
}

func newTree(seed string, mtime time.Time) *tree {
	return &tree{seed: seed, mtime: mtime, dirs: map[string]bool{}}
}

func (t *tree) parents(p string) {
	dir := path.Dir(p)
	if dir == "." || dir == "/" || t.dirs[dir] {
		return
	}
	t.parents(dir)
	t.dirs[dir] = true
	t.files = append(t.files, File{Path: dir, Type: tar.TypeDir, ModTime: t.mtime})
}

func (t *tree) add(f File) {
	t.parents(f.Path)
	if f.Type == tar.TypeDir {
		if t.dirs[f.Path] {
			return
		}
		t.dirs[f.Path] = true
	}
	f.ModTime = t.mtime
	t.files = append(t.files, f)
}

func (t *tree) dir(p string)                 { t.add(File{Path: p, Type: tar.TypeDir}) }
func (t *tree) dirMode(p string, mode int64) { t.add(File{Path: p, Type: tar.TypeDir, Mode: mode}) }
func (t *tree) symlink(p, target string) {
	t.add(File{Path: p, Type: tar.TypeSymlink, Linkname: target})
}
func (t *tree) hardlink(p, target string)     { t.add(File{Path: p, Type: tar.TypeLink, Linkname: target}) }
func (t *tree) file(p string, content []byte) { t.add(File{Path: p, Content: content}) }
func (t *tree) str(p, content string)         { t.file(p, []byte(content)) }
func (t *tree) text(p string, n int)          { t.file(p, Text(t.seed+":"+p, n)) }
func (t *tree) random(p string, n int)        { t.file(p, Bytes(t.seed+":"+p, n)) }
func (t *tree) lib(p string, n int)           { t.file(p, binaryData(t.seed+":"+p, n)) }
func (t *tree) exe(p string, n int) {
	t.add(File{Path: p, Content: binaryData(t.seed+":"+p, n), Mode: 0o755})
}
func (t *tree) script(p string, content []byte) { t.add(File{Path: p, Content: content, Mode: 0o755}) }

// fileHex returns the hex sha256 of the tar of files, as the classic
// builder's "ADD file:<hex> in /" history shows.
func fileHex(files []File) string {
	tb, err := tarBytes(files)
	if err != nil {
		panic(err) // demo content is static; covered by tests
	}
	sum := sha256.Sum256(tb)
	return hex.EncodeToString(sum[:])
}

// --- Debian ---------------------------------------------------------------

const debianOSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
`

const debianSources = `Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`

const debianPasswd = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
sync:x:4:65534:sync:/bin:/bin/sync
games:x:5:60:games:/usr/games:/usr/sbin/nologin
man:x:6:12:man:/var/cache/man:/usr/sbin/nologin
lp:x:7:7:lp:/var/spool/lpd:/usr/sbin/nologin
mail:x:8:8:mail:/var/mail:/usr/sbin/nologin
news:x:9:9:news:/var/spool/news:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`

const debianGroup = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
shadow:x:42:
www-data:x:33:
nogroup:x:65534:
`

// debianPackages are the packages of the demo Debian base.
var debianPackages = strings.Fields(`adduser apt base-files base-passwd bash
bsdutils coreutils dash debconf debian-archive-keyring debianutils diffutils
dpkg e2fsprogs findutils gcc-12-base gpgv grep gzip hostname
init-system-helpers libacl1 libapt-pkg6.0 libattr1 libaudit-common libaudit1
libblkid1 libbz2-1.0 libc-bin libc6 libcap-ng0 libcap2 libcom-err2 libcrypt1
libdb5.3 libdebconfclient0 libext2fs2 libffi8 libgcc-s1 libgcrypt20 libgmp10
libgnutls30 libgpg-error0 libhogweed6 libidn2-0 liblz4-1 liblzma5 libmd0
libmount1 libnettle8 libp11-kit0 libpam-modules libpam-modules-bin
libpam-runtime libpam0g libpcre2-8-0 libseccomp2 libselinux1 libsemanage-common
libsemanage2 libsepol2 libsmartcols1 libss2 libstdc++6 libsystemd0 libtasn1-6
libtinfo6 libudev1 libunistring2 libuuid1 libxxhash0 libzstd1 login logsave
mawk mount ncurses-base ncurses-bin passwd perl-base sed sysvinit-utils tar
tzdata usr-is-merged util-linux util-linux-extra zlib1g`)

// dpkgStatus renders a var/lib/dpkg/status database listing pkgs.
func dpkgStatus(pkgs []string) []byte {
	var b strings.Builder
	for i, p := range pkgs {
		r := newRNG("dpkg-status:" + p)
		b.WriteString("Package: " + p + "\n")
		b.WriteString("Status: install ok installed\n")
		if i%3 == 0 {
			b.WriteString("Priority: required\nEssential: yes\n")
		} else {
			b.WriteString("Priority: optional\n")
		}
		b.WriteString("Section: libs\n")
		b.WriteString("Installed-Size: " + strconv.Itoa(100+r.intn(9000)) + "\n")
		b.WriteString("Maintainer: Debian Developers <debian-devel@lists.debian.org>\n")
		b.WriteString("Architecture: amd64\nMulti-Arch: same\n")
		b.WriteString("Version: " + strconv.Itoa(1+r.intn(9)) + "." + strconv.Itoa(r.intn(40)) + "-" + strconv.Itoa(1+r.intn(5)) + "\n")
		b.WriteString("Depends: libc6 (>= 2.34)\n")
		b.WriteString("Description: " + p + " package\n")
		for _, line := range strings.Split(string(Text("dpkg-description:"+p, 1500+r.intn(3000))), "\n") {
			b.WriteString(" " + line + "\n")
		}
		b.WriteString("\n")
	}
	return []byte(b.String())
}

// debianRootfs is the root filesystem of Debian's point release point
// ("12.7", or "12.8", which adds libssl3).
func debianRootfs(point string) []File {
	t := newTree("debian-12", time.Time{})
	t.symlink("bin", "usr/bin")
	t.dir("boot")
	t.dir("dev")
	t.dir("etc")
	t.str("etc/apt/sources.list.d/debian.sources", debianSources)
	t.text("etc/bash.bashrc", 1994)
	t.str("etc/debian_version", point+"\n")
	t.str("etc/group", debianGroup)
	t.str("etc/hostname", "buildkitsandbox\n")
	t.text("etc/login.defs", 12569)
	t.str("etc/os-release", debianOSRelease)
	t.str("etc/passwd", debianPasswd)
	t.add(File{Path: "etc/shadow", Content: []byte("root:*:19700:0:99999:7:::\n"), Mode: 0o640, GID: 42})
	t.dir("home")
	t.symlink("lib", "usr/lib")
	t.symlink("lib64", "usr/lib64")
	t.dir("media")
	t.dir("mnt")
	t.dir("opt")
	t.dirMode("proc", 0o555)
	t.dirMode("root", 0o700)
	t.dir("run")
	t.symlink("sbin", "usr/sbin")
	t.dir("srv")
	t.dirMode("sys", 0o555)
	t.dirMode("tmp", 0o1777)
	for _, b := range []struct {
		name string
		size int
	}{
		{"apt", 14_000}, {"apt-get", 20_000}, {"bash", 390_000}, {"cat", 33_000},
		{"chmod", 48_000}, {"cp", 105_000}, {"dash", 94_000}, {"dpkg", 232_000},
		{"find", 153_000}, {"grep", 142_000}, {"gzip", 73_000}, {"ls", 113_000},
		{"mkdir", 60_000}, {"mv", 103_000}, {"perl", 285_000}, {"rm", 54_000},
		{"sed", 91_000}, {"tar", 198_000},
	} {
		t.exe("usr/bin/"+b.name, b.size)
	}
	t.hardlink("usr/bin/perl5.36.0", "usr/bin/perl")
	t.symlink("usr/bin/sh", "dash")
	t.symlink("usr/bin/rbash", "bash")
	const multiarch = "usr/lib/x86_64-linux-gnu/"
	for _, l := range []struct {
		name, soname string
		size         int
	}{
		{"ld-linux-x86-64.so.2", "", 110_000},
		{"libc.so.6", "", 520_000},
		{"libm.so.6", "", 180_000},
		{"libstdc++.so.6.0.30", "libstdc++.so.6", 320_000},
		{"libz.so.1.2.13", "libz.so.1", 60_000},
		{"libzstd.so.1.5.4", "libzstd.so.1", 190_000},
		{"liblzma.so.5.4.1", "liblzma.so.5", 80_000},
		{"libselinux.so.1", "", 90_000},
		{"libapt-pkg.so.6.0.0", "libapt-pkg.so.6.0", 300_000},
	} {
		t.lib(multiarch+l.name, l.size)
		if l.soname != "" {
			t.symlink(multiarch+l.soname, l.name)
		}
	}
	if point != "12.7" {
		t.lib(multiarch+"libssl.so.3", 610_000)
		t.lib(multiarch+"libcrypto.so.3", 1_100_000)
	}
	t.symlink("usr/lib64/ld-linux-x86-64.so.2", "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
	t.exe("usr/sbin/useradd", 60_000)
	t.exe("usr/sbin/ldconfig", 90_000)
	t.text("usr/share/common-licenses/GPL-3", 35_149)
	t.text("usr/share/common-licenses/Apache-2.0", 11_358)
	for _, p := range debianPackages {
		t.text("usr/share/doc/"+p+"/copyright", 2000+len(p)*400)
	}
	t.text("usr/share/perl5/Debconf/Config.pm", 20_000)
	t.text("usr/share/perl5/Debconf/Db.pm", 9_000)
	t.text("usr/share/perl5/Debconf/Template.pm", 18_000)
	t.dir("var/cache/apt")
	t.dir("var/lib/apt/lists")
	t.file("var/lib/dpkg/status", dpkgStatus(debianPackages))
	for _, p := range debianPackages {
		t.text("var/lib/dpkg/info/"+p+".list", 1500+len(p)*300)
		t.text("var/lib/dpkg/info/"+p+".md5sums", 1000+len(p)*200)
	}
	t.dir("var/log")
	t.dirMode("var/tmp", 0o1777)
	return t.files
}

// --- Alpine ---------------------------------------------------------------

func alpineRootfs(arch string) []File {
	march := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[arch]
	t := newTree("alpine-3.20-"+arch, time.Time{})
	t.dir("bin")
	t.exe("bin/busybox", 820_000)
	for _, app := range strings.Fields("ash cat chmod cp date echo grep ls mkdir mv ps rm sed sh sleep tar") {
		t.symlink("bin/"+app, "/bin/busybox")
	}
	t.dir("dev")
	t.str("etc/alpine-release", "3.20.3\n")
	t.str("etc/apk/arch", march+"\n")
	t.text("etc/apk/keys/alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub", 800)
	t.str("etc/apk/repositories", "https://dl-cdn.alpinelinux.org/alpine/v3.20/main\nhttps://dl-cdn.alpinelinux.org/alpine/v3.20/community\n")
	t.str("etc/apk/world", "alpine-baselayout\nalpine-keys\napk-tools\nbusybox\nlibc-utils\n")
	t.str("etc/group", "root:x:0:root\nbin:x:1:root,bin,daemon\nnogroup:x:65533:\nnobody:x:65534:\n")
	t.str("etc/os-release", "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\nHOME_URL=\"https://alpinelinux.org/\"\nBUG_REPORT_URL=\"https://gitlab.alpinelinux.org/alpine/aports/-/issues\"\n")
	t.str("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nbin:x:1:1:bin:/bin:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n")
	t.add(File{Path: "etc/shadow", Content: []byte("root:*::0:::::\n"), Mode: 0o640, GID: 42})
	t.dir("home")
	t.lib("lib/ld-musl-"+march+".so.1", 610_000)
	t.symlink("lib/libc.musl-"+march+".so.1", "ld-musl-"+march+".so.1")
	t.lib("lib/libcrypto.so.3", 320_000)
	t.lib("lib/libssl.so.3", 90_000)
	t.lib("lib/libz.so.1.3.1", 80_000)
	t.symlink("lib/libz.so.1", "libz.so.1.3.1")
	t.text("lib/apk/db/installed", 70_000)
	t.random("lib/apk/db/scripts.tar", 10_240)
	t.dir("media")
	t.dir("mnt")
	t.dir("opt")
	t.dirMode("proc", 0o555)
	t.dirMode("root", 0o700)
	t.dir("run")
	t.exe("sbin/apk", 110_000)
	t.symlink("sbin/ldconfig", "/bin/busybox")
	t.dir("srv")
	t.dirMode("sys", 0o555)
	t.dirMode("tmp", 0o1777)
	t.exe("usr/bin/ssl_client", 14_000)
	t.lib("usr/lib/libapk.so.2.14.0", 140_000)
	t.text("usr/share/apk/keys/"+march+"/alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub", 800)
	t.dir("var/cache/apk")
	t.dir("var/lib")
	t.dir("var/log")
	t.dirMode("var/tmp", 0o1777)
	return t.files
}

// --- Python ---------------------------------------------------------------

func caCertificates() []File {
	t := newTree("python-3.12:ca-certificates", time.Time{})
	certs := strings.Fields("ISRG_Root_X1 ISRG_Root_X2 DigiCert_Global_Root_G2 GlobalSign_Root_CA Amazon_Root_CA_1 Baltimore_CyberTrust_Root USERTrust_RSA_Certification_Authority GTS_Root_R1")
	t.text("etc/ssl/certs/ca-certificates.crt", 213_000)
	for i, c := range certs {
		t.symlink("etc/ssl/certs/"+c+".pem", "/usr/share/ca-certificates/mozilla/"+c+".crt")
		t.symlink("etc/ssl/certs/"+hex.EncodeToString([]byte{byte(i * 37), byte(i * 11), 0x5a, 0x1e})+".0", c+".pem")
	}
	t.text("etc/ssl/openssl.cnf", 12_000)
	t.exe("usr/bin/openssl", 120_000)
	t.lib("usr/lib/x86_64-linux-gnu/libssl.so.3", 160_000)
	t.lib("usr/lib/x86_64-linux-gnu/libcrypto.so.3", 520_000)
	t.script("usr/sbin/update-ca-certificates", Text("update-ca-certificates", 6_200))
	for _, c := range certs {
		t.text("usr/share/ca-certificates/mozilla/"+c+".crt", 1_900)
	}
	t.dir("var/lib/apt/lists")
	t.file("var/lib/dpkg/status", dpkgStatus(append(append([]string(nil), debianPackages...), "ca-certificates", "libssl3", "openssl")))
	for _, p := range []string{"ca-certificates", "libssl3", "openssl"} {
		t.text("var/lib/dpkg/info/"+p+".list", 2_500)
		t.text("var/lib/dpkg/info/"+p+".md5sums", 1_800)
	}
	t.text("var/log/apt/history.log", 2_300)
	t.text("var/log/dpkg.log", 14_000)
	return t.files
}

// pythonStdlib lists the demo stdlib modules with their source sizes.
var pythonStdlib = []struct {
	name string
	size int
}{
	{"__future__.py", 5_200}, {"_collections_abc.py", 32_400}, {"_pydatetime.py", 91_000},
	{"_pydecimal.py", 229_000}, {"abc.py", 6_500}, {"argparse.py", 101_000},
	{"ast.py", 64_000}, {"asyncio/__init__.py", 1_200}, {"asyncio/base_events.py", 78_000},
	{"asyncio/events.py", 29_000}, {"asyncio/streams.py", 27_000}, {"asyncio/tasks.py", 37_000},
	{"base64.py", 20_000}, {"collections/__init__.py", 52_000}, {"contextlib.py", 27_000},
	{"copy.py", 8_700}, {"csv.py", 16_000}, {"dataclasses.py", 61_000},
	{"email/__init__.py", 1_800}, {"email/message.py", 47_000}, {"email/parser.py", 5_000},
	{"enum.py", 81_000}, {"functools.py", 38_000}, {"inspect.py", 125_000},
	{"json/__init__.py", 14_000}, {"json/decoder.py", 12_500}, {"json/encoder.py", 16_000},
	{"logging/__init__.py", 81_000}, {"logging/handlers.py", 62_000}, {"os.py", 39_000},
	{"pathlib.py", 50_000}, {"pickle.py", 65_000}, {"re/__init__.py", 16_000},
	{"re/_compiler.py", 26_000}, {"re/_parser.py", 41_000}, {"shutil.py", 56_000},
	{"socket.py", 37_000}, {"ssl.py", 53_000}, {"subprocess.py", 88_000},
	{"tarfile.py", 107_000}, {"threading.py", 60_000}, {"typing.py", 113_000},
	{"unittest/case.py", 58_000}, {"unittest/mock.py", 110_000}, {"urllib/parse.py", 47_000},
	{"urllib/request.py", 103_000}, {"zipfile/__init__.py", 86_000},
}

func pythonBuild() []File {
	t := newTree("python-3.12.7", time.Time{})
	const lib = "usr/local/lib/python3.12/"
	t.text("usr/local/include/python3.12/Python.h", 2_900)
	t.text("usr/local/include/python3.12/object.h", 36_000)
	t.text("usr/local/include/python3.12/pyconfig.h", 52_000)
	t.exe("usr/local/bin/python3.12", 18_000)
	t.symlink("usr/local/bin/python3", "python3.12")
	t.symlink("usr/local/bin/python", "python3")
	t.script("usr/local/bin/pip3.12", []byte("#!/usr/local/bin/python3.12\n# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom pip._internal.cli.main import main\nif __name__ == '__main__':\n    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n    sys.exit(main())\n"))
	t.symlink("usr/local/bin/pip3", "pip3.12")
	t.symlink("usr/local/bin/pip", "pip3")
	t.script("usr/local/bin/pydoc3.12", []byte("#!/usr/local/bin/python3.12\n\nimport pydoc\nif __name__ == '__main__':\n    pydoc.cli()\n"))
	t.lib("usr/local/lib/libpython3.12.so.1.0", 1_300_000)
	t.symlink("usr/local/lib/libpython3.12.so", "libpython3.12.so.1.0")
	t.lib("usr/local/lib/libpython3.so", 16_000)
	for _, m := range pythonStdlib {
		t.text(lib+m.name, m.size)
		dir, base := path.Split(m.name)
		t.lib(lib+dir+"__pycache__/"+strings.TrimSuffix(base, ".py")+".cpython-312.pyc", m.size*6/10)
	}
	for _, m := range []struct {
		name string
		size int
	}{
		{"_asyncio", 190_000}, {"_datetime", 160_000}, {"_decimal", 300_000}, {"_json", 70_000},
		{"_socket", 95_000}, {"_sqlite3", 120_000}, {"_ssl", 210_000}, {"math", 110_000},
		{"select", 55_000}, {"zlib", 48_000},
	} {
		t.lib(lib+"lib-dynload/"+m.name+".cpython-312-x86_64-linux-gnu.so", m.size)
	}
	t.str(lib+"site-packages/README.txt", "This directory exists so that 3rd party packages can be installed\nhere.  Read the source for site.py for more details.\n")
	for _, m := range []struct {
		name string
		size int
	}{
		{"__init__.py", 357}, {"_internal/cli/main.py", 2_800}, {"_internal/req/req_install.py", 35_000},
		{"_internal/resolution/resolvelib/resolver.py", 12_000}, {"_internal/index/package_finder.py", 38_000},
		{"_vendor/rich/console.py", 99_000}, {"_vendor/requests/sessions.py", 30_000},
		{"_vendor/urllib3/connectionpool.py", 40_000}, {"_vendor/pygments/lexer.py", 35_000},
		{"_vendor/certifi/cacert.pem", 292_000},
	} {
		t.text(lib+"site-packages/pip/"+m.name, m.size)
	}
	t.text(lib+"site-packages/pip-24.2.dist-info/METADATA", 3_600)
	t.text(lib+"site-packages/pip-24.2.dist-info/RECORD", 68_000)
	t.text("usr/local/share/man/man1/python3.12.1", 21_000)
	return t.files
}

// --- pip packages -----------------------------------------------------------

type pyPkg struct {
	name, version string
	modules       []string // files under the import package directory
	size          int      // total bytes of the .py sources
	native        int      // size of a compiled extension, if any
}

// pipInstall adds the site-packages entries pip writes for pkgs. Content
// only depends on the package name and version, so the same package
// installed in two images gives identical files.
func pipInstall(t *tree, pkgs []pyPkg) {
	const sp = "usr/local/lib/python3.12/site-packages/"
	for _, p := range pkgs {
		imp := strings.ReplaceAll(strings.ToLower(p.name), "-", "_")
		seed := "pypi:" + p.name + "==" + p.version + ":"
		var record strings.Builder
		addRecord := func(rel string, content []byte) {
			sum := sha256.Sum256(content)
			record.WriteString(rel + ",sha256=" + base64.RawURLEncoding.EncodeToString(sum[:]) + "," + strconv.Itoa(len(content)) + "\n")
		}
		for i, m := range p.modules {
			n := p.size / len(p.modules)
			if i == 0 {
				n = p.size/len(p.modules)/4 + 200
			}
			rel := imp + "/" + m
			if !strings.Contains(m, ".") {
				rel += ".py"
			}
			src := Text(seed+rel, n)
			t.file(sp+rel, src)
			addRecord(rel, src)
			if strings.HasSuffix(rel, ".py") {
				dir, base := path.Split(rel)
				pyc := dir + "__pycache__/" + strings.TrimSuffix(base, ".py") + ".cpython-312.pyc"
				b := binaryData(seed+pyc, n*6/10)
				t.file(sp+pyc, b)
				addRecord(pyc, b)
			}
		}
		if p.native > 0 {
			rel := imp + "/_" + imp + ".cpython-312-x86_64-linux-gnu.so"
			b := binaryData(seed+rel, p.native)
			t.file(sp+rel, b)
			addRecord(rel, b)
		}
		di := p.name + "-" + p.version + ".dist-info/"
		meta := []byte("Metadata-Version: 2.1\nName: " + p.name + "\nVersion: " + p.version + "\n\n" + string(Text(seed+"METADATA", 3_000)))
		for _, f := range []struct {
			name    string
			content []byte
		}{
			{"INSTALLER", []byte("pip\n")},
			{"METADATA", meta},
			{"WHEEL", []byte("Wheel-Version: 1.0\nGenerator: bdist_wheel (0.44.0)\nRoot-Is-Purelib: true\nTag: py3-none-any\n")},
			{"top_level.txt", []byte(imp + "\n")},
		} {
			t.file(sp+di+f.name, f.content)
			addRecord(di+f.name, f.content)
		}
		record.WriteString(di + "RECORD,,\n")
		t.str(sp+di+"RECORD", record.String())
	}
}

var (
	pkgClick            = pyPkg{"click", "8.1.7", []string{"__init__", "core", "decorators", "exceptions", "formatting", "parser", "shell_completion", "termui", "types", "utils"}, 165_000, 0}
	pkgTypingExtensions = pyPkg{"typing_extensions", "4.12.2", []string{"__init__"}, 74_000, 0}
	apiPackages         = []pyPkg{
		{"annotated-types", "0.7.0", []string{"__init__", "test_cases"}, 11_000, 0},
		{"anyio", "4.6.0", []string{"__init__", "_core/_eventloop", "_core/_sockets", "_core/_streams", "_backends/_asyncio", "to_thread"}, 88_000, 0},
		pkgClick,
		{"fastapi", "0.115.0", []string{"__init__", "applications", "routing", "params", "encoders", "dependencies/utils", "openapi/utils", "security/oauth2"}, 182_000, 0},
		{"h11", "0.14.0", []string{"__init__", "_connection", "_events", "_readers", "_writers"}, 33_000, 0},
		{"idna", "3.10", []string{"__init__", "core", "idnadata", "uts46data"}, 99_000, 0},
		{"pydantic", "2.9.2", []string{"__init__", "main", "fields", "types", "networks", "_internal/_generate_schema", "_internal/_model_construction", "json_schema"}, 231_000, 0},
		{"pydantic_core", "2.23.4", []string{"__init__", "core_schema"}, 77_000, 231_000},
		{"sniffio", "1.3.1", []string{"__init__", "_impl"}, 2_000, 0},
		{"starlette", "0.38.6", []string{"__init__", "applications", "routing", "requests", "responses", "middleware/cors", "staticfiles"}, 110_000, 0},
		pkgTypingExtensions,
		{"uvicorn", "0.30.6", []string{"__init__", "main", "config", "server", "protocols/http/h11_impl", "protocols/http/httptools_impl"}, 66_000, 0},
	}
	workerPackages = []pyPkg{
		{"amqp", "5.2.0", []string{"__init__", "connection", "channel", "transport", "serialization"}, 55_000, 0},
		{"billiard", "4.2.1", []string{"__init__", "pool", "process", "connection", "reduction"}, 105_000, 0},
		{"celery", "5.4.0", []string{"__init__", "app/base", "app/task", "worker/worker", "worker/consumer/consumer", "beat", "canvas", "result", "backends/redis", "utils/time"}, 385_000, 0},
		pkgClick,
		{"kombu", "5.4.2", []string{"__init__", "connection", "messaging", "serialization", "transport/redis", "transport/virtual/base"}, 176_000, 0},
		{"python-dateutil", "2.9.0.post0", []string{"__init__", "parser/_parser", "relativedelta", "rrule", "tz/tz"}, 110_000, 0},
		{"redis", "5.0.8", []string{"__init__", "client", "connection", "commands/core", "commands/cluster", "cluster", "asyncio/client"}, 209_000, 0},
		{"six", "1.16.0", []string{"__init__"}, 19_000, 0},
		pkgTypingExtensions,
		{"vine", "5.1.0", []string{"__init__", "promises", "synchronization"}, 16_000, 0},
	}
)

func requirements(pkgs []pyPkg) []byte {
	var b strings.Builder
	for _, p := range pkgs {
		if p.name == pkgClick.name || p.name == pkgTypingExtensions.name {
			continue // transitive
		}
		b.WriteString(p.name + "==" + p.version + "\n")
	}
	return []byte(b.String())
}
