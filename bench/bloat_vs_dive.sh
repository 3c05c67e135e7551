#!/usr/bin/env bash
# Registry to bloat report for one ~150 MB image: layerq against the peer
# workflow, skopeo copy to a docker-archive and then dive on it, in one run.
#
# Run from the repository root:  bash bench/bloat_vs_dive.sh
#
# Needs Go and the PostgreSQL server binaries; installs skopeo and GNU time
# from the distribution (apt-get) and builds dive with `go install` when they
# are missing. Environment:
#   RUNS          timed runs of each side, alternating (default 3)
#   DIVE_VERSION  module version of github.com/wagoodman/dive (default v0.13.1)
#
# Each layerq run uses a fresh local Postgres cluster (a new --data-dir),
# started and migrated before the clock starts; the timed part is
# `layerq-ingest scan --layers` followed by `layerq bloat --image`. Each peer
# run copies the image to a new docker-archive and runs `dive --ci` on it
# with rules that never fail. Wall time and peak RSS are GNU time's (peak RSS
# is that of the largest single process of the timed commands). layerq's
# Postgres server is not a child of the timed commands: its CPU time is
# measured apart (from /proc), and its memory in one more, untimed, layerq
# run that samples the server's processes.
set -euo pipefail
export LC_ALL=C

RUNS=${RUNS:-3}
DIVE_VERSION=${DIVE_VERSION:-v0.13.1}
REPO=bench/app
TAG=1.0

ROOT=$(pwd)
if ! grep -qs '^module github.com/layerq/layerq$' go.mod; then
	echo "bloat_vs_dive: run from the root of the layerq repository" >&2
	exit 2
fi
BIN=$ROOT/bin

say() { printf '%s\n' "$*" >&2; }
die() {
	say "bloat_vs_dive: $*"
	exit 1
}

# --- tools ------------------------------------------------------------------

apt_updated=
apt_install() { # apt_install WHAT PACKAGE...: install or die saying why
	local what=$1
	shift
	command -v apt-get >/dev/null || die "cannot get $what: it is not installed and apt-get is not available to install it (package: $*)"
	local sudo=
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null || die "cannot get $what: installing package $* needs root (or sudo)"
		sudo=sudo
	fi
	local log
	log=$(mktemp)
	if [ -z "$apt_updated" ]; then
		say "apt-get update (to install $*)"
		if ! $sudo apt-get update >"$log" 2>&1; then
			tail -5 "$log" >&2
			rm -f "$log"
			die "cannot get $what: apt-get update failed (above)"
		fi
		apt_updated=1
	fi
	say "apt-get install -y $*"
	if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "$@" >"$log" 2>&1; then
		tail -5 "$log" >&2
		rm -f "$log"
		die "cannot get $what: apt-get install -y $* failed (above)"
	fi
	rm -f "$log"
}

command -v go >/dev/null || die "go is not on PATH"
[ -x /usr/bin/time ] || apt_install "GNU time (/usr/bin/time)" time
[ -x /usr/bin/time ] || die "package time is installed but /usr/bin/time is missing"
command -v skopeo >/dev/null || apt_install skopeo skopeo
command -v skopeo >/dev/null || die "package skopeo is installed but skopeo is not on PATH"

[ -f /usr/include/isa-l/igzip_lib.h ] || apt_install "ISA-L (libisal-dev, layerq's gzip inflater)" libisal-dev

say "building layerq-ingest (-tags isal), layerq (without cgo, as go tool task build) and the bench registry"
go build -tags isal -o "$BIN/layerq-ingest" ./cmd/ingest
CGO_ENABLED=0 go build -o "$BIN/layerq" ./cmd/query
go build -o "$BIN/benchregistry" ./bench/cmd/benchregistry

DIVE=$BIN/dive
if [ ! -x "$DIVE" ]; then
	if command -v dive >/dev/null; then
		DIVE=$(command -v dive)
	else
		say "building dive $DIVE_VERSION (go install github.com/wagoodman/dive@$DIVE_VERSION)"
		log=$(mktemp)
		if ! GOBIN=$BIN go install "github.com/wagoodman/dive@$DIVE_VERSION" >"$log" 2>&1; then
			tail -5 "$log" >&2
			rm -f "$log"
			die "cannot get dive: go install github.com/wagoodman/dive@$DIVE_VERSION failed (above); set DIVE_VERSION to a version the Go module proxy serves (go list -m github.com/wagoodman/dive@latest)"
		fi
		rm -f "$log"
	fi
fi
# dive built by go install reports no version of its own; its module does.
dive_version=$(go version -m "$DIVE" 2>/dev/null | awk '$1 == "mod" && $2 == "github.com/wagoodman/dive" {print $3}')
[ -n "$dive_version" ] || dive_version=$("$DIVE" --version 2>&1 | head -1)

pg_bin=$(command -v postgres || ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V | tail -1 || true)
[ -n "$pg_bin" ] || die "PostgreSQL server binaries not found (Debian/Ubuntu: apt-get install postgresql)"

# --- work area and cleanup ----------------------------------------------------

# The local cluster runs as an unprivileged user when this runs as root, so
# the work directory must be traversable by it.
WORK=$(mktemp -d)
chmod 755 "$WORK"
registry_pid=
data_dirs=()
cleanup() {
	local rc=$?
	set +e
	if [ -n "$registry_pid" ]; then
		kill "$registry_pid" 2>/dev/null
		wait "$registry_pid" 2>/dev/null
	fi
	for d in "${data_dirs[@]}"; do
		if [ -e "$d/postgres/data/postmaster.pid" ]; then
			"$BIN/layerq-ingest" --data-dir "$d" local stop >/dev/null 2>&1
		fi
	done
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- registry -----------------------------------------------------------------

say "starting the registry and pushing $REPO:$TAG"
"$BIN/benchregistry" -image "$REPO:$TAG" >"$WORK/registry.out" 2>"$WORK/registry.err" &
registry_pid=$!
for _ in $(seq 600); do
	grep -qx ready "$WORK/registry.out" && break
	kill -0 "$registry_pid" 2>/dev/null || {
		cat "$WORK/registry.err" >&2
		die "the bench registry exited before it was ready"
	}
	sleep 0.2
done
grep -qx ready "$WORK/registry.out" || die "the bench registry was not ready after 120 s"
HOST=$(awk '$1 == "registry" {print $2}' "$WORK/registry.out")
image_size=$(awk '$1 == "size" {print $2, $5}' "$WORK/registry.out") # uncompressed compressed
layers=$(awk '$1 == "layers" {print $2}' "$WORK/registry.out")
say "registry $HOST: $REPO:$TAG, $layers layers, $image_size bytes (uncompressed, compressed)"

# skopeo's default policy (containers-common's policy.json) accepts any
# image; give it the same explicitly so that a machine without it works.
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$WORK/policy.json"
# dive's CI rules, all disabled: it reports and never fails on the figures.
printf 'rules:\n  lowestEfficiency: disabled\n  highestWastedBytes: disabled\n  highestUserWastedPercent: disabled\n' >"$WORK/dive-ci.yaml"

# --- measurements ---------------------------------------------------------------

clk_tck=$(getconf CLK_TCK)

# pg_cpu DATA_DIR: CPU seconds the cluster's processes have used so far
# (live processes, plus exited backends through the postmaster's cutime).
pg_cpu() {
	local pm
	pm=$(head -1 "$1/postgres/data/postmaster.pid")
	{
		sed 's/.*) //' "/proc/$pm/stat" | awk '{print $12 + $13 + $14 + $15}'
		for p in $(ps -o pid= --ppid "$pm"); do
			sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}' || true
		done
	} | awk -v hz="$clk_tck" '{t += $1} END {printf "%.2f", t / hz}'
}

# pg_pss DATA_DIR: total proportional set size of the cluster's processes, KiB.
pg_pss() {
	local pm
	pm=$(head -1 "$1/postgres/data/postmaster.pid")
	for p in "$pm" $(ps -o pid= --ppid "$pm"); do
		cat "/proc/$p/smaps_rollup" 2>/dev/null
	done | awk '$1 == "Pss:" {t += $2} END {print t + 0}'
}

# busy_cpu: CPU seconds the whole machine has spent busy since boot (user,
# nice, system, irq, softirq; not idle, iowait or steal), all cores.
busy_cpu() { awk -v hz="$clk_tck" '$1 == "cpu" {printf "%.2f", ($2 + $3 + $4 + $7 + $8) / hz}' /proc/stat; }

# proc_cpu PID: CPU seconds process PID has used.
proc_cpu() { sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$clk_tck" '{printf "%.2f", ($12 + $13) / hz}'; }

# account SIDE N BUSY0 REG0 [PG_CPU]: after a timed run, record the CPU the
# registry used during it and the CPU of everything else on the machine
# (busy time less the timed commands, the registry and layerq's Postgres):
# other work that overlapped the run.
account() {
	local busy1 reg1
	busy1=$(busy_cpu)
	reg1=$(proc_cpu "$registry_pid")
	awk -v b0="$3" -v b1="$busy1" -v r0="$4" -v r1="$reg1" -v pg="${5:-0}" \
		'{printf "%.2f %.2f\n", r1 - r0, (b1 - b0) - ($3 + $4) - (r1 - r0) - pg}' \
		"$WORK/time-$1-$2" >"$WORK/acct-$1-$2"
}

# timed OUT CMD...: run CMD under GNU time; OUT gets "wall_s maxrss_kib user_s sys_s".
timed() {
	local out=$1
	shift
	/usr/bin/time -f '%e %M %U %S' -o "$out" "$@"
}

layerq_run() { # layerq_run N [sample]
	local n=$1 sample=${2:-}
	local d=$WORK/layerq-$n
	mkdir "$d"
	chmod 755 "$d"
	data_dirs+=("$d")
	# Start the cluster (initdb on first use) and apply the schema untimed.
	"$BIN/layerq-ingest" --data-dir "$d" migrate >/dev/null 2>"$WORK/migrate.err" || {
		cat "$WORK/migrate.err" >&2
		die "layerq-ingest migrate failed"
	}
	local sampler=
	if [ -n "$sample" ]; then
		(
			set +e
			while :; do
				pg_pss "$d"
				sleep 0.05
			done
		) >"$WORK/pss-$n" 2>/dev/null &
		sampler=$!
	fi
	local cpu0 cpu1 busy0 reg0
	cpu0=$(pg_cpu "$d")
	busy0=$(busy_cpu)
	reg0=$(proc_cpu "$registry_pid")
	timed "$WORK/time-layerq-$n" bash -c '
		t0=$EPOCHREALTIME
		"$1/layerq-ingest" --data-dir "$2" scan --registry "$3" --layers >"$4.scan" 2>&1 || exit 1
		t1=$EPOCHREALTIME
		"$1/layerq" --data-dir "$2" bloat --image "$5" >"$4.bloat" 2>&1 || exit 1
		echo "$t0 $t1 $EPOCHREALTIME" >"$4.steps"' \
		_ "$BIN" "$d" "$HOST" "$WORK/out-layerq-$n" "$REPO:$TAG" || {
		cat "$WORK/out-layerq-$n".* >&2
		die "layerq run $n failed"
	}
	cpu1=$(pg_cpu "$d")
	if [ -n "$sampler" ]; then
		kill "$sampler" 2>/dev/null || true
		wait "$sampler" 2>/dev/null || true
	fi
	echo "$cpu0 $cpu1" | awk '{printf "%.2f\n", $2 - $1}' >"$WORK/pgcpu-layerq-$n"
	account layerq "$n" "$busy0" "$reg0" "$(cat "$WORK/pgcpu-layerq-$n")"
	"$BIN/layerq" --data-dir "$d" -o json bloat --image "$REPO:$TAG" >"$WORK/bloat-$n.json" 2>/dev/null
	"$BIN/layerq-ingest" --data-dir "$d" local stop >/dev/null
	rm -rf "$d"
}

peer_run() { # peer_run N
	local n=$1
	local tarball=$WORK/image-$n.tar busy0 reg0
	busy0=$(busy_cpu)
	reg0=$(proc_cpu "$registry_pid")
	timed "$WORK/time-peer-$n" bash -c '
		t0=$EPOCHREALTIME
		skopeo --policy "$1" copy --src-tls-verify=false "docker://$2/$3" "docker-archive:$4:$3" >"$5.skopeo" 2>&1 || exit 1
		t1=$EPOCHREALTIME
		"$6" --ci --ci-config "$7" --source docker-archive "$4" >"$5.dive" 2>&1
		echo $? >"$5.dive-rc"
		echo "$t0 $t1 $EPOCHREALTIME" >"$5.steps"' \
		_ "$WORK/policy.json" "$HOST" "$REPO:$TAG" "$tarball" "$WORK/out-peer-$n" "$DIVE" "$WORK/dive-ci.yaml" || {
		cat "$WORK/out-peer-$n".* >&2 2>/dev/null
		die "peer run $n failed (skopeo copy)"
	}
	account peer "$n" "$busy0" "$reg0"
	ls -l "$tarball" | awk '{print $5}' >"$WORK/tarsize-$n"
	rm -f "$tarball"
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
for n in $(seq "$RUNS"); do
	say "run $n/$RUNS: layerq"
	layerq_run "$n"
	say "run $n/$RUNS: skopeo + dive"
	peer_run "$n"
done
say "one more layerq run, untimed, sampling the Postgres server's memory"
layerq_run mem sample

# --- report -------------------------------------------------------------------

median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
field() { # field SIDE COLUMN: that column of every run's time file
	for n in $(seq "$RUNS"); do awk -v c="$2" '{print $c}' "$WORK/time-$1-$n"; done
}
list() { field "$@" | paste -sd' ' | sed 's/ /, /g'; }
acct() { for n in $(seq "$RUNS"); do awk -v c="$2" '{print $c}' "$WORK/acct-$1-$n"; done; }
step() { # step SIDE 1|2: median seconds of the first or second step
	for n in $(seq "$RUNS"); do
		awk -v s="$2" '{printf "%.2f\n", s == 1 ? $2 - $1 : $3 - $2}' "$WORK/out-$1-$n.steps"
	done | median
}

l_wall=$(field layerq 1 | median)
p_wall=$(field peer 1 | median)
l_rss=$(field layerq 2 | median)
p_rss=$(field peer 2 | median)
l_cpu=$(for n in $(seq "$RUNS"); do awk '{print $3 + $4}' "$WORK/time-layerq-$n"; done | median)
p_cpu=$(for n in $(seq "$RUNS"); do awk '{print $3 + $4}' "$WORK/time-peer-$n"; done | median)
l_pgcpu=$(for n in $(seq "$RUNS"); do cat "$WORK/pgcpu-layerq-$n"; done | median)
pg_peak=$(sort -n "$WORK/pss-mem" | tail -1)
pg_idle=$(head -1 "$WORK/pss-mem")

dive_rcs=$(for n in $(seq "$RUNS"); do cat "$WORK/out-peer-$n.dive-rc"; done | paste -sd' ')
layerq_wasted=$(for n in $(seq "$RUNS") mem; do
	sed -n 's/^  "wasted_bytes": \([0-9]*\),$/\1/p' "$WORK/bloat-$n.json"
done | sort -u | paste -sd' ')
layerq_wasted_c=$(sed -n 's/^  "wasted_compressed_bytes": \([0-9]*\),$/\1/p' "$WORK/bloat-1.json")

echo
echo "Registry to bloat report: $REPO:$TAG, $layers layers, $(echo "$image_size" | awk '{printf "%.1f MB uncompressed, %.1f MB compressed", $1 / 1e6, $2 / 1e6}')"
echo
echo "machine:    $(nproc) cores, $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(uname -sr)"
echo "date:       $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "Go:         $(go version)"
echo "PostgreSQL: $("$pg_bin" --version)"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	echo "layerq:     $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- || echo ' (with local changes)')"
else
	echo "layerq:     not a git checkout"
fi
echo "skopeo:     $(skopeo --version)"
echo "dive:       $dive_version"
echo
printf '%-44s %14s %14s %10s\n' "" "layerq" "skopeo + dive" "peer/layerq"
printf '%-44s %14s %14s %10s\n' "wall time, median of $RUNS (s)" "$l_wall" "$p_wall" "$(awk -v a="$p_wall" -v b="$l_wall" 'BEGIN {printf "%.1f", a / b}')"
printf '%-44s %14s %14s %10s\n' "peak RSS, largest process, median (MiB)" \
	"$(awk -v k="$l_rss" 'BEGIN {printf "%.0f", k / 1024}')" "$(awk -v k="$p_rss" 'BEGIN {printf "%.0f", k / 1024}')" \
	"$(awk -v a="$p_rss" -v b="$l_rss" 'BEGIN {printf "%.1f", a / b}')"
printf '%-44s %14s %14s\n' "CPU user+sys of the timed commands (s)" "$l_cpu" "$p_cpu"
printf '%-44s %14s %14s\n' "CPU of layerq's Postgres server (s)" "$l_pgcpu" "-"
printf '%-44s %14s %14s\n' "CPU of the registry serving it (s)" "$(acct layerq 1 | median)" "$(acct peer 1 | median)"
printf '%-44s %14s %14s\n' "Postgres server memory, peak PSS (MiB)" "$(awk -v k="$pg_peak" 'BEGIN {printf "%.0f", k / 1024}')" "-"
echo
echo "every run (wall s / peak RSS KiB):"
echo "  layerq:        $(list layerq 1)  /  $(list layerq 2)"
echo "  skopeo + dive: $(list peer 1)  /  $(list peer 2)"
echo "  median of each step: layerq-ingest scan --layers $(step layerq 1) s, layerq bloat $(step layerq 2) s;" \
	"skopeo copy $(step peer 1) s, dive --ci $(step peer 2) s"
echo "  CPU of other work on the machine during each run (s): layerq $(acct layerq 2 | paste -sd' ' | sed 's/ /, /g');" \
	"skopeo + dive $(acct peer 2 | paste -sd' ' | sed 's/ /, /g')"
echo "  load average before the runs: $load0; after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  Postgres server PSS idle before the untimed run: $((pg_idle / 1024)) MiB"
echo "  docker-archive written by skopeo: $(cat "$WORK/tarsize-1") bytes"
echo "  dive exit codes: $dive_rcs"
echo
echo "wasted bytes:"
echo "  layerq bloat -o json: wasted_bytes $layerq_wasted (wasted_compressed_bytes $layerq_wasted_c)"
echo "  dive --ci:"
sed 's/\x1b\[[0-9;]*m//g; s/^/    /' "$WORK/out-peer-1.dive"
echo
echo "layerq (run 1):"
sed 's/^/    /' "$WORK/out-layerq-1.scan"
sed 's/^/    /' "$WORK/out-layerq-1.bloat"
echo
# The figures once more as a `go test -bench` result line, which the suite
# (bench/cmd/benchsuite) reads.
printf 'BenchmarkBloatVsDive %s %s layerq-s %s peer-s %s peer/layerq %s layerq-scan-s %s layerq-bloat-s %s layerq-cpu-s %s layerq-postgres-cpu-s %s peer-cpu-s\n' \
	"$RUNS" "$l_wall" "$p_wall" "$(awk -v a="$p_wall" -v b="$l_wall" 'BEGIN {printf "%.3f", a / b}')" \
	"$(step layerq 1)" "$(step layerq 2)" "$l_cpu" "$l_pgcpu" "$p_cpu"
