#!/usr/bin/env bash
# bench/run.sh: the sigward benchmark suite, in one command (as root).
#
#   sudo bash bench/run.sh [--quick] [--rounds N] [--no-criterion] ...
#
# Installs what it needs (apt), builds the release agent, compiles the C
# drivers in bench/src, prepares a dedicated loop-mounted ext2 file system
# at /var/tmp/bench-fs holding every benchmark file, measures every part
# (bench/README.md) and prints a markdown report on stdout, also written to
# bench/results/latest.md. Progress goes to stderr.
#
# Safety: every permission listener (the minimal listener, fapolicyd,
# sigward) runs under timeout(1), marks only directories on the benchmark
# file system (fapolicyd: mount marks on ext2 mounts, and the script makes
# sure the benchmark image is the only ext2 mount), and is killed by pid in
# the EXIT/INT/TERM trap, which also restores fapolicyd's configuration.
set -euo pipefail
shopt -s nullglob

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
WORK=/var/tmp/bench-work        # drivers, policies, sockets, logs (never watched)
FS=/var/tmp/bench-fs            # loop-mounted ext2: every benchmark file
IMG=/var/tmp/bench-fs.img
IMG_SIZE=8G
DATA_VERSION=1                  # bump to regenerate the cached data sets
ORIG_ARGS=("$@")

# ------------------------------------------------------------------ options
ROUNDS=5
OPS=200000          # open+close calls timed per condition, file and round
BATCH=10000         # calls per timed batch
OPEN_WARMUP=2000
EXEC_OPS=2000       # execs timed per condition, file and round
EXEC_BATCH=100
EXEC_WARMUP=20
LAT_N=20000         # cached opens timed while the 2 GiB file verifies
P5_ROUNDS=0         # 0: same as ROUNDS
CRITERION=1
CRITERION_ARGS=()
INSTALL=1
AGENT_BIN=""
PARTS=",1,2,3,4,5,6,7,8,9,10,"
LISTENER_LIMIT=900  # seconds any listener may live (timeout(1))
DRIVER_LIMIT=600    # seconds any timed driver may run

usage() {
	cat <<'EOF'
usage: bench/run.sh [options]        (as root)

  --quick            2 rounds, fewer operations, criterion --quick (a few minutes)
  --rounds N         interleaved rounds (default 5)
  --ops N            open+close calls timed per condition and round (default 200000)
  --batch N          calls per timed batch (default 10000)
  --exec-ops N       execs timed per condition and round (default 2000)
  --lat-samples N    cached opens sampled during the 2 GiB verification (default 20000)
  --parts LIST       comma-separated subset of 1,...,10 (default: all; 1 and 2 run together)
  --no-criterion     skip part 6 (cargo bench -p sigward-policy --bench formats)
  --no-install       do not run apt-get (everything must be installed already)
  --agent BIN        measure this sigward binary instead of building the
                     checkout's (e.g. an earlier release, for a before/after)
  -h, --help         this help

The report goes to stdout and bench/results/latest.md; raw data and logs to
bench/results/raw/. The benchmark image /var/tmp/bench-fs.img (8 GiB, sparse)
keeps the generated data sets between runs; delete it to start afresh.
Part 9 downloads Ansible's wheels once into /var/cache/sigward-bench/wheels
(later runs need no network).
EOF
}

for a in "$@"; do
	if [ "$a" = --quick ]; then
		ROUNDS=2 OPS=50000 BATCH=5000 OPEN_WARMUP=1000 EXEC_OPS=400 EXEC_BATCH=50
		EXEC_WARMUP=10 LAT_N=10000 CRITERION_ARGS=(--quick)
	fi
done
while [ $# -gt 0 ]; do
	case $1 in
	--quick) ;;
	--rounds) ROUNDS=$2; shift ;;
	--ops) OPS=$2; shift ;;
	--batch) BATCH=$2; shift ;;
	--exec-ops) EXEC_OPS=$2; shift ;;
	--lat-samples) LAT_N=$2; shift ;;
	--parts) PARTS=",$2,"; shift ;;
	--no-criterion) CRITERION=0 ;;
	--no-install) INSTALL=0 ;;
	--agent) AGENT_BIN=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
	esac
	shift
done
for v in ROUNDS OPS BATCH EXEC_OPS LAT_N; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: $v must be a positive integer" >&2; exit 2; }
done
[ "$OPS" -ge "$BATCH" ] || { echo "run.sh: --ops must be at least --batch" >&2; exit 2; }
[ "$EXEC_OPS" -ge "$EXEC_BATCH" ] || EXEC_BATCH=$EXEC_OPS
[ "$P5_ROUNDS" -gt 0 ] || P5_ROUNDS=$(( ROUNDS < 3 ? 3 : ROUNDS ))
want() { [[ $PARTS == *",$1,"* ]]; }
if want 1 || want 2; then PARTS="$PARTS,1,2,"; fi

# ------------------------------------------------------------------ helpers
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now_ns() { date +%s%N; }

BIN=$WORK/bin
RUN=$WORK/run
OUT=$BENCH_DIR/results/raw
LOGS=$OUT/logs
SIGWARD=$BIN/sigward

PLUG=$FS/plugins
RO_FILE=$PLUG/ro/plugin_ro.py
RO_ELF=$PLUG/ro/hello_ro
RW_FILE=$PLUG/rw/plugin_rw.py
RW_ELF=$PLUG/rw/hello_rw
BIG1=$PLUG/big/big1.bin
BIG2=$PLUG/big/big2.bin
HUGE=$PLUG/big/huge.bin
SMALL=$PLUG/small/cached.py
TREE=$FS/tree100k
REALTREE=$FS/realtree               # part 9: Ansible as pip installs it
REALSITE=$REALTREE/site
REALTREE_REQ=$BENCH_DIR/realtree-requirements.txt
WHEELS=/var/cache/sigward-bench/wheels
EXECTREE=$FS/exectree               # part 10: signed scripts and ELFs
P10_DIRS=50
P10_EACH=10                         # scripts, and as many ELFs, per directory
KEYS=$FS/keys
FAPO_CHECK=$FS/fapolicyd-check

LISTENERS=()            # timeout(1) pids of running listeners
WE_MOUNTED=0
WE_MADE_POLICY_RC=0
FAPO_BACKUP=$WORK/fapolicyd-backup
FAPO_OK=1
FAPO_NOTE=""
FAPO_UID_NOTE=""

# Stops a listener started under timeout(1): SIGTERM to that pid (timeout
# passes it on to the listener), then SIGKILL by pid if it lingers.
stop_listener() {
	local t=$1 i kids
	if kill -0 "$t" 2>/dev/null; then
		kill -TERM "$t" 2>/dev/null || true
		for ((i = 0; i < 150; i++)); do
			kill -0 "$t" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$t" 2>/dev/null; then
			log "listener under pid $t did not stop; killing it"
			kids=$(pgrep -P "$t" || true)
			for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
			kill -KILL "$t" 2>/dev/null || true
		fi
	fi
	wait "$t" 2>/dev/null || true
	local keep=() p
	for p in "${LISTENERS[@]}"; do [ "$p" = "$t" ] || keep+=("$p"); done
	LISTENERS=("${keep[@]}")
}

fapolicyd_restore() {
	[ -f "$FAPO_BACKUP/complete" ] || return 0
	rm -rf /etc/fapolicyd /var/lib/fapolicyd
	cp -a "$FAPO_BACKUP/etc" /etc/fapolicyd
	if [ -d "$FAPO_BACKUP/lib" ]; then cp -a "$FAPO_BACKUP/lib" /var/lib/fapolicyd; fi
	rm -f /run/fapolicyd.state
	rm -rf "$FAPO_BACKUP"
	log "fapolicyd configuration restored"
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	local p
	for p in "${LISTENERS[@]}"; do stop_listener "$p"; done
	fapolicyd_restore
	if [ "$WE_MADE_POLICY_RC" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
	if [ "$WE_MOUNTED" = 1 ] && mountpoint -q "$FS"; then
		sync
		umount "$FS" || log "warning: could not unmount $FS"
	fi
	if [ "$rc" -ne 0 ]; then log "failed (exit $rc); logs in $LOGS"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Waits until FILE has a line matching REGEX; fails after TIMEOUT_S or
# when PID (the process that should write it) is gone.
wait_for_line() {
	local file=$1 re=$2 timeout_s=$3 pid=$4 i
	for ((i = 0; i < timeout_s * 50; i++)); do
		if [ -f "$file" ] && grep -Eq "$re" "$file"; then return 0; fi
		if ! kill -0 "$pid" 2>/dev/null; then
			# one last look: it may have written the line and exited
			if [ -f "$file" ] && grep -Eq "$re" "$file"; then return 0; fi
			return 1
		fi
		sleep 0.02
	done
	return 1
}

# key=value output of a driver -> value of KEY
kv() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -n1; }

# Runs a timed driver under timeout(1); --foreground keeps it in our process
# group, so that Ctrl-C reaches it even while it waits in open().
drv() { timeout --foreground -k 5 "$DRIVER_LIMIT" "$@"; }

# ------------------------------------------------------------------ setup
[ "$(id -u)" = 0 ] || die "run as root (fanotify permission events need CAP_SYS_ADMIN)"
[ "$(uname -s)" = Linux ] || die "Linux only"
mkdir -p "$WORK" "$BIN" "$RUN" "$OUT"
rm -rf "$OUT" && mkdir -p "$OUT" "$LOGS"

# A previous run killed before its trap ran leaves fapolicyd's original
# configuration in the backup: put it back before anything else.
if [ -f "$FAPO_BACKUP/complete" ]; then
	log "restoring fapolicyd configuration left by an interrupted run"
	fapolicyd_restore
fi
rm -rf "$FAPO_BACKUP"

install_packages() {
	local pkgs=(fapolicyd gcc libc6-dev openssl python3 python3-pip strace e2fsprogs util-linux procps coreutils findutils)
	local missing=() p
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	command -v apt-get >/dev/null || die "apt-get not found; install: ${missing[*]}"
	log "installing ${missing[*]}"
	# The fapolicyd package starts its daemon under systemd with Debian's
	# default policy (deny executing anything untrusted on every ext4, xfs,
	# tmpfs...). Never let it: policy-rc.d forbids starting services.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		WE_MADE_POLICY_RC=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
	if [ "$WE_MADE_POLICY_RC" = 1 ]; then rm -f /usr/sbin/policy-rc.d; WE_MADE_POLICY_RC=0; fi
}
if [ "$INSTALL" = 1 ]; then install_packages; fi
for c in gcc openssl python3 mkfs.ext2 blkid losetup mountpoint pgrep timeout sha256sum; do
	command -v "$c" >/dev/null || die "$c not found (run without --no-install)"
done
# Part 9 installs and runs Ansible with the distribution's interpreter
# (pip compiles the .pyc files for the interpreter that runs it), whatever
# python3 comes first in PATH.
PY3=/usr/bin/python3
[ -x "$PY3" ] || PY3=$(command -v python3)
if want 9; then
	"$PY3" -m pip --version >/dev/null 2>&1 || die "part 9 needs pip for $PY3 (python3-pip)"
	"$PY3" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
		die "part 9 needs Python 3.11 or later (ansible-core 2.18); $PY3 is $("$PY3" --version 2>&1)"
fi

# Listeners left by an earlier run that was killed (SIGKILL skips the trap)
# would answer alongside ours: refuse to measure until they are gone.
stale=$(pgrep -x minlisten || true; pgrep -f "^$BIN/sigward run" || true)
if [ -n "$stale" ]; then
	die "listeners from an earlier benchmark run are still running (pids: ${stale//$'\n'/ }); they exit within ${LISTENER_LIMIT}s, or kill them"
fi
# A running fapolicyd (the system's, or one left by a killed run) may watch
# the benchmark file system and would distort every condition: never touch
# it, and do not measure beside it.
stale=$(pgrep -x fapolicyd || true)
if [ -n "$stale" ]; then
	die "fapolicyd is running (pid ${stale//$'\n'/ }); stop it first (one left by a killed benchmark run exits within ${LISTENER_LIMIT}s)"
fi
if ! command -v fapolicyd >/dev/null; then
	FAPO_OK=0
	FAPO_NOTE="skipped: fapolicyd is not installed"
fi
FAPO_VERSION=$(dpkg-query -W -f='${Version}' fapolicyd 2>/dev/null || echo unknown)

# ------------------------------------------------------------------ build
export PATH=$PATH:$HOME/.cargo/bin:/root/.cargo/bin
command -v cargo >/dev/null || die "cargo not found (install Rust with rustup)"
build_agent() {
	local i
	for i in 1 2 3 4 5; do
		if (cd "$REPO" && cargo build --release -p sigward) >"$LOGS/build.log" 2>&1; then
			return 0
		fi
		log "cargo build failed (attempt $i/5; another edit in progress?); retrying in 60 s"
		tail -n 5 "$LOGS/build.log" >&2
		sleep 60
	done
	die "cargo build --release -p sigward keeps failing; see $LOGS/build.log"
}
if [ -n "$AGENT_BIN" ]; then
	[ -x "$AGENT_BIN" ] || die "--agent $AGENT_BIN: not an executable"
	log "measuring $AGENT_BIN (--agent), not the checkout's build"
	cp "$AGENT_BIN" "$SIGWARD.new" && mv "$SIGWARD.new" "$SIGWARD"
else
	log "building the release agent"
	build_agent
	TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
	# Snapshot the binary: other builds may replace target/release/sigward while we run.
	cp "$TARGET_DIR/release/sigward" "$SIGWARD.new" && mv "$SIGWARD.new" "$SIGWARD"
fi
SIGWARD_VERSION=$("$SIGWARD" --version 2>/dev/null || echo unknown)
GIT_REV=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)
[ -z "$AGENT_BIN" ] || GIT_REV="$AGENT_BIN (--agent; bench scripts at $GIT_REV)"

log "compiling the C drivers"
for p in openbench execbench minlisten opentime latency readywait openall execlist; do
	gcc -O2 -Wall -Wextra -pthread -o "$BIN/$p" "$BENCH_DIR/src/$p.c" 2>"$LOGS/gcc-$p.log" ||
		die "gcc $p.c failed: $(cat "$LOGS/gcc-$p.log")"
done
gcc -static -O2 -o "$BIN/hello" "$BENCH_DIR/src/hello.c" 2>"$LOGS/gcc-hello.log" ||
	die "gcc -static hello.c failed (libc6-dev installed?): $(cat "$LOGS/gcc-hello.log")"

# ------------------------------------------------------------------ file system
setup_fs() {
	if mountpoint -q "$FS"; then
		# left mounted by a run that was killed: ours to unmount at the end
		grep -q " $FS ext2 " /proc/mounts || die "$FS is mounted but is not the benchmark's ext2 image"
		WE_MOUNTED=1
	else
		if [ -f "$IMG" ] && ! blkid -p "$IMG" 2>/dev/null | grep -q 'TYPE="ext2"'; then
			die "$IMG exists but is not an ext2 image; remove it"
		fi
		if [ ! -f "$IMG" ]; then
			log "creating the $IMG_SIZE ext2 image $IMG (sparse)"
			truncate -s "$IMG_SIZE" "$IMG"
			mkfs.ext2 -q -F -b 4096 -I 256 -N 600000 -L sigward-bench "$IMG"
		fi
		mkdir -p "$FS"
		mount -o loop "$IMG" "$FS"
		WE_MOUNTED=1
	fi
	chmod 0755 "$FS"
	local n
	n=$(awk '$3 == "ext2"' /proc/mounts | wc -l)
	if [ "$n" -ne 1 ]; then
		FAPO_OK=0
		FAPO_NOTE="skipped: $n ext2 mounts; fapolicyd's watch_fs = ext2 must match only the benchmark image"
	fi
}
setup_fs

# ------------------------------------------------------------------ data
USERS_GID=$(getent group users | cut -d: -f3 || true)
USERS_GID=${USERS_GID:-100}

sign() { "$SIGWARD" sign --key "$KEYS/bench.key" "$@" >/dev/null; }

prepare_data() {
	mkdir -p "$KEYS"
	if [ ! -f "$KEYS/bench.key" ] || [ ! -f "$KEYS/bench.pub" ]; then
		log "generating the benchmark signing key"
		rm -f "$KEYS"/bench.* "$FS"/.stamp-*
		"$SIGWARD" keygen --out "$KEYS/bench" >/dev/null
	fi
	local fpr
	fpr=$(sha256sum "$KEYS/bench.pub" | cut -c1-16)
	# Cached signatures made by an older build must still verify with this one.
	if [ -f "$FS/.stamp-tree" ] &&
		! "$SIGWARD" verify --trust-key "$KEYS/bench.pub" "$TREE/d00000/f00.py" >/dev/null 2>&1; then
		log "cached signatures no longer verify with this build: re-signing"
		rm -f "$FS"/.stamp-*
	fi

	# Parts 1-2: a root-owned read-only plugin and ELF in a root-owned
	# directory (which sigward may answer with a kernel ignore mark), and a
	# group-writable plugin and ELF in a group-writable directory (always
	# answered by sigward itself, from its verdict cache). The files of
	# parts 3 and 4 are group-writable too, so that every open of theirs
	# reaches the agent and a ctime change makes the next one a cache miss.
	rm -rf "$PLUG/ro" "$PLUG/rw" "$PLUG/small"
	mkdir -p "$PLUG/ro" "$PLUG/rw" "$PLUG/small" "$PLUG/big"
	chown root:root "$PLUG" "$PLUG/ro"
	chmod 0755 "$PLUG" "$PLUG/ro"
	chown "root:$USERS_GID" "$PLUG/rw" "$PLUG/small" "$PLUG/big"
	chmod 2775 "$PLUG/rw" "$PLUG/small" "$PLUG/big"
	local body
	body=$(printf '"""A signed benchmark plugin."""\n%s\n' "$(seq 1 200 | sed 's/.*/VALUE_& = &/')")
	printf '%s\n' "$body" >"$RO_FILE"
	printf '%s\n# writable\n' "$body" >"$RW_FILE"
	printf '%s\n# cached\n' "$body" >"$SMALL"
	cp "$BIN/hello" "$RO_ELF"
	cp "$BIN/hello" "$RW_ELF"
	sign "$RO_FILE" "$RO_ELF" "$RW_FILE" "$RW_ELF" "$SMALL"
	chown root:root "$RO_FILE" "$RO_ELF" "$RO_FILE.sig" "$RO_ELF.sig"
	chmod 0444 "$RO_FILE" "$RO_FILE.sig" "$RO_ELF.sig"
	chmod 0555 "$RO_ELF"
	chown "root:$USERS_GID" "$RW_FILE" "$RW_ELF" "$RW_FILE.sig" "$RW_ELF.sig"
	chmod 0664 "$RW_FILE" "$RW_FILE.sig" "$RW_ELF.sig"
	chmod 0775 "$RW_ELF"
	chown "root:$USERS_GID" "$SMALL" "$SMALL.sig"
	chmod 0664 "$SMALL" "$SMALL.sig"

	# Parts 3-4: two 1 GiB files and a 2 GiB file (pseudo-random content).
	if { want 3 || want 4; } && [ "$(cat "$FS/.stamp-big" 2>/dev/null)" != "$DATA_VERSION $fpr" ]; then
		log "creating and signing 2 x 1 GiB + 2 GiB files (once; cached in the image)"
		rm -f "$FS/.stamp-big" "$PLUG"/big/*
		local f size
		for f in "$BIG1:1073741824:1" "$BIG2:1073741824:2" "$HUGE:2147483648:3"; do
			size=${f#*:}; size=${size%%:*}
			head -c "$size" < <(openssl enc -aes-128-ctr -nosalt -K "0${f##*:}" -iv 0 </dev/zero 2>/dev/null) >"${f%%:*}"
			[ "$(stat -c %s "${f%%:*}")" = "$size" ] || die "could not create ${f%%:*}"
		done
		sign "$BIG1" "$BIG2" "$HUGE"
		echo "$DATA_VERSION $fpr" >"$FS/.stamp-big"
	fi
	if want 3 || want 4; then
		chown "root:$USERS_GID" "$BIG1" "$BIG2" "$HUGE" "$BIG1.sig" "$BIG2.sig" "$HUGE.sig"
		chmod 0664 "$BIG1" "$BIG2" "$HUGE" "$BIG1.sig" "$BIG2.sig" "$HUGE.sig"
	fi

	# Part 5: 100,000 signed files in 10,000 directories.
	if want 5 && [ "$(cat "$FS/.stamp-tree" 2>/dev/null)" != "$DATA_VERSION $fpr" ]; then
		log "creating 100,000 files in 10,000 directories and signing them (once; cached in the image)"
		rm -rf "$TREE" "$FS/.stamp-tree"
		python3 "$BENCH_DIR/gentree.py" "$TREE" 10000 10
		(cd "$TREE" && find . -type f -name '*.py' -print0 |
			xargs -0 -n 5000 "$SIGWARD" sign --key "$KEYS/bench.key" >/dev/null)
		echo "$DATA_VERSION $fpr" >"$FS/.stamp-tree"
	fi
	local nfiles tree_check=()
	if want 5; then
		find "$TREE" -type f ! -name '*.sig' -print0 >"$WORK/tree.list"
		nfiles=$(tr -cd '\0' <"$WORK/tree.list" | wc -c)
		[ "$nfiles" = 100000 ] || die "expected 100000 files in $TREE, found $nfiles; remove $FS/.stamp-tree"
		tree_check=("$TREE/d09999/f09.py")
	fi

	# fapolicyd's check: a file it does not trust, and one whose trust entry
	# has the right size but another SHA-256 (caught only by integrity = sha256).
	rm -rf "$FAPO_CHECK"
	mkdir -p "$FAPO_CHECK"
	echo "not in the trust database" >"$FAPO_CHECK/untrusted.txt"
	echo "content A, as trusted....." >"$FAPO_CHECK/tampered.txt"

	if want 9; then prepare_realtree "$fpr"; tree_check+=("$P9_CHECK" "$P9_CHECK_PYC"); fi
	if want 10; then
		prepare_exectree "$fpr"
		tree_check+=("$EXECTREE/d00/e0" "$EXECTREE/d00/s0.sh")
	fi

	"$SIGWARD" verify --trust-key "$KEYS/bench.pub" "$RO_FILE" "$RW_FILE" "$RO_ELF" "$RW_ELF" "$SMALL" \
		"${tree_check[@]}" >"$LOGS/verify.log" 2>&1 || die "signatures do not verify: $(cat "$LOGS/verify.log")"
	sync
}

# Signs every regular file below DIR (but the signatures), as root-owned
# 0644 .sig files beside them.
sign_tree() { # DIR
	find "$1" -type f ! -name '*.sig' -print0 |
		nice -n 19 xargs -0 -r -n 500 "$SIGWARD" sign --key "$KEYS/bench.key" >/dev/null ||
		die "sigward sign failed below $1"
	find "$1" -type f -name '*.sig' -exec chown root:root {} + -exec chmod 0644 {} +
}

# fapolicyd's trust entries (path size SHA-256, the file backend's format)
# for every regular file below DIR, signatures included; paths with white
# space, which that format cannot hold, are left out (and counted on stderr).
trust_list() { # DIR OUT
	nice -n 19 python3 - "$1" >"$2.new" <<'PY' || die "could not list the trust entries of $1"
import hashlib, os, sys
skipped = 0
for root, dirs, files in os.walk(sys.argv[1]):
    dirs.sort()
    for name in sorted(files):
        p = os.path.join(root, name)
        if any(c.isspace() for c in p):
            skipped += 1
            continue
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        print(p, os.path.getsize(p), h.hexdigest())
if skipped:
    print(f"{skipped} paths with white space left out", file=sys.stderr)
PY
	mv "$2.new" "$2"
}

# Part 9: Ansible (ansible, ansible-core and ansible-core's dependencies)
# installed by pip --target, .pyc files compiled by pip, every file signed.
# The wheels are kept in $WHEELS, the signed tree in the image.
P9_CHECK=""
P9_CHECK_PYC=""
prepare_realtree() { # KEY_FINGERPRINT
	local stamp pip
	stamp="$DATA_VERSION $1 $(sha256sum <"$REALTREE_REQ" | cut -c1-16) $("$PY3" -c 'import sys; print("py%d.%d" % sys.version_info[:2])')"
	# (timestamp-checked .pyc, as pip makes them without SOURCE_DATE_EPOCH)
	pip=(env -u SOURCE_DATE_EPOCH -u PYTHONDONTWRITEBYTECODE -u PYTHONPATH -u PIP_TARGET -u PIP_PREFIX
		-u PIP_FIND_LINKS -u PIP_NO_COMPILE "$PY3" -m pip --disable-pip-version-check --no-input --no-cache-dir)
	if [ "$(cat "$FS/.stamp-realtree" 2>/dev/null)" != "$stamp" ]; then
		log "installing Ansible with pip --target and signing every file (once; cached in the image)"
		rm -rf "$REALTREE" "$FS/.stamp-realtree" "$FS/.realtree.trust"
		mkdir -p "$WHEELS" "$REALTREE"
		chmod 0755 "$REALTREE"
		local inst=("${pip[@]}" install -q --compile --root-user-action=ignore --no-warn-script-location
			--no-index --find-links "$WHEELS" --target "$REALSITE" -r "$REALTREE_REQ")
		if ! (umask 022 && nice -n 19 "${inst[@]}") >"$LOGS/pip-install.log" 2>&1; then
			log "  downloading the wheels into $WHEELS (once)"
			rm -rf "$REALSITE"
			"${pip[@]}" download -q --dest "$WHEELS" -r "$REALTREE_REQ" >"$LOGS/pip-download.log" 2>&1 ||
				die "pip download failed: $(tail -n 5 "$LOGS/pip-download.log")"
			(umask 022 && nice -n 19 "${inst[@]}") >"$LOGS/pip-install.log" 2>&1 ||
				die "pip install --target $REALSITE failed: $(tail -n 5 "$LOGS/pip-install.log")"
		fi
		# A package manager's layout: root-owned, nothing writable but by root.
		chown -R root:root "$REALTREE"
		chmod -R u=rwX,go=rX "$REALTREE"
		log "  signing $(find "$REALTREE" -type f | wc -l) files"
		sign_tree "$REALTREE"
		trust_list "$REALTREE" "$FS/.realtree.trust"
		sync
		echo "$stamp" >"$FS/.stamp-realtree"
	fi
	[ -f "$REALSITE/bin/ansible-doc" ] || die "pip wrote no $REALSITE/bin/ansible-doc; remove $FS/.stamp-realtree"
	P9_CHECK=$REALSITE/ansible_collections/community/general/plugins/modules/make.py
	P9_CHECK_PYC=$(find "$REALSITE/ansible/__pycache__" -name '__init__.cpython-*.pyc' | head -n 1)
	if [ ! -f "$P9_CHECK" ] || [ -z "$P9_CHECK_PYC" ]; then
		die "the Ansible tree lacks $P9_CHECK or compiled .pyc files; remove $FS/.stamp-realtree"
	fi
}

# Part 10: $P10_DIRS directories of $P10_EACH shell scripts and as many
# copies of the static ELF, root-owned 0755, signed.
prepare_exectree() { # KEY_FINGERPRINT
	local stamp d k
	stamp="$DATA_VERSION $1 $P10_DIRS $P10_EACH $(sha256sum <"$BIN/hello" | cut -c1-16)"
	if [ "$(cat "$FS/.stamp-exectree" 2>/dev/null)" != "$stamp" ]; then
		log "creating and signing $((P10_DIRS * P10_EACH * 2)) programs in $P10_DIRS directories (once; cached in the image)"
		rm -rf "$EXECTREE" "$FS/.stamp-exectree" "$FS/.exectree.trust"
		mkdir -p "$EXECTREE"
		for ((d = 0; d < P10_DIRS; d++)); do
			mkdir "$EXECTREE/d$(printf %02d "$d")"
			for ((k = 0; k < P10_EACH; k++)); do
				printf '#!/bin/sh\n# sigward benchmark tool %02d/%d\nexit 0\n' "$d" "$k" \
					>"$EXECTREE/d$(printf %02d "$d")/s$k.sh"
				cp "$BIN/hello" "$EXECTREE/d$(printf %02d "$d")/e$k"
			done
		done
		chown -R root:root "$EXECTREE"
		chmod -R 0755 "$EXECTREE"
		sign_tree "$EXECTREE"
		trust_list "$EXECTREE" "$FS/.exectree.trust"
		sync
		echo "$stamp" >"$FS/.stamp-exectree"
	fi
	# One pass: every directory in turn, its scripts and ELFs alternating.
	: >"$WORK/exectree.list"
	for ((d = 0; d < P10_DIRS; d++)); do
		for ((k = 0; k < P10_EACH; k++)); do
			printf '%s\0%s\0' "$EXECTREE/d$(printf %02d "$d")/s$k.sh" "$EXECTREE/d$(printf %02d "$d")/e$k" \
				>>"$WORK/exectree.list"
		done
	done
}
log "preparing the benchmark files on $FS"
prepare_data

write_policy() { # FILE TREE CACHE_ENTRIES [FORMATS]
	cat >"$1" <<EOF
# generated by bench/run.sh
mode = "enforce"
formats = [${4:-\"native\"}]

[trust]
keys = ["$KEYS/bench.pub"]

[agent]
cache_entries = $3

[[protect]]
path = "$2"
# The group-writable plugins (rw/, small/, big/) are verified, not refused.
untrusted_writers = "allow"
EOF
	"$SIGWARD" check --policy "$1" >"$LOGS/check-$(basename "$1").log" 2>&1 ||
		die "sigward check --policy $1 failed: $(cat "$LOGS/check-$(basename "$1").log")"
}
POLICY_PLUG=$WORK/policy-plugins.toml
POLICY_TREE=$WORK/policy-tree100k.toml
write_policy "$POLICY_PLUG" "$PLUG" 65536
if want 5; then write_policy "$POLICY_TREE" "$TREE" 262144; fi
# Part 7 accepts raw RSA signatures too, so that 256 random bytes beside a
# file are a signature only the file's SHA-256 can refute.
POLICY_DOS=$WORK/policy-dos.toml
write_policy "$POLICY_DOS" "$PLUG" 65536 '"native", "rsa-openssl"'
POLICY_REAL=$WORK/policy-realtree.toml
POLICY_EXEC=$WORK/policy-exectree.toml
if want 9; then write_policy "$POLICY_REAL" "$REALTREE" 262144; fi
if want 10; then write_policy "$POLICY_EXEC" "$EXECTREE" 65536; fi

# ------------------------------------------------------------------ listeners
MIN_T=""
start_minimal() { # TAG [MINLISTEN ARGUMENTS: default, the directories of parts 1-2]
	local tag=$1
	shift
	local args=("$@")
	if [ ${#args[@]} -eq 0 ]; then args=("$PLUG" "$PLUG/ro" "$PLUG/rw"); fi
	rm -f "$LOGS/$tag.out" "$LOGS/$tag.err"
	timeout -k 5 "$LISTENER_LIMIT" "$BIN/minlisten" "${args[@]}" \
		>"$LOGS/$tag.out" 2>"$LOGS/$tag.err" &
	MIN_T=$!
	LISTENERS+=("$MIN_T")
	wait_for_line "$LOGS/$tag.out" '^ready$' 60 "$MIN_T" ||
		die "minimal listener did not start: $(cat "$LOGS/$tag.err")"
}

SW_T="" SW_PID="" SW_SOCK="" SW_STARTUP_NS=""
start_sigward() { # POLICY TAG
	local policy=$1 tag=$2
	local notify=$RUN/$tag.notify ready=$RUN/$tag.ready log=$LOGS/$tag.log
	SW_SOCK=$RUN/$tag.sock
	rm -f "$SW_SOCK" "$RUN/$tag.pid" "$notify" "$ready"
	timeout -k 5 300 "$BIN/readywait" "$notify" 240 >"$ready" 2>"$LOGS/$tag.readywait.err" &
	local rw=$!
	wait_for_line "$ready" '^listening$' 10 "$rw" || die "readywait did not start"
	local t0
	t0=$(now_ns)
	NOTIFY_SOCKET=$notify SIGWARD_LOG_TARGET=stderr \
		timeout -k 10 "$LISTENER_LIMIT" "$SIGWARD" run --policy "$policy" \
		--control-socket "$SW_SOCK" --pid-file "$RUN/$tag.pid" --state-dir none 2>"$log" &
	SW_T=$!
	LISTENERS+=("$SW_T")
	while kill -0 "$rw" 2>/dev/null; do
		if ! kill -0 "$SW_T" 2>/dev/null; then
			kill "$rw" 2>/dev/null || true
			wait "$rw" 2>/dev/null || true
			die "sigward exited before READY=1: $(tail -n 5 "$log")"
		fi
		sleep 0.01
	done
	wait "$rw" || die "sigward sent no READY=1: $(tail -n 5 "$log")"
	local t1
	t1=$(sed -n 's/^ready_realtime_ns=//p' "$ready")
	SW_STARTUP_NS=$((t1 - t0))
	SW_PID=$(cat "$RUN/$tag.pid")
	[ -d "/proc/$SW_PID" ] || die "sigward pid file $RUN/$tag.pid is stale"
}

sw_status() { "$SIGWARD" status --json --control-socket "$SW_SOCK"; }
# events, cache hits, cache misses, cache entries, kernel ignore marks (-1: not reported)
sw_counts() {
	sw_status | python3 -c 'import json,sys; d=json.load(sys.stdin); c=d["cache"]; print(d["events"], c["hits"], c["misses"], c["entries"], (d.get("kernel_cache") or {}).get("marks", -1))'
}

FA_T="" FA_PID=""
fapolicyd_configure() {
	[ "$FAPO_OK" = 1 ] || return 0
	log "configuring fapolicyd $FAPO_VERSION (backup in $FAPO_BACKUP)"
	mkdir -p "$FAPO_BACKUP"
	cp -a /etc/fapolicyd "$FAPO_BACKUP/etc"
	if [ -d /var/lib/fapolicyd ]; then cp -a /var/lib/fapolicyd "$FAPO_BACKUP/lib"; fi
	touch "$FAPO_BACKUP/complete"
	local conf=/etc/fapolicyd/fapolicyd.conf k v
	for kvp in "permissive=1" "integrity=sha256" "watch_fs=ext2" "trust=file" \
		"allow_filesystem_mark=0" "detailed_report=0"; do
		k=${kvp%%=*} v=${kvp#*=}
		if grep -Eq "^[[:space:]]*${k}[[:space:]]*=" "$conf"; then
			sed -i -E "s|^[[:space:]]*${k}[[:space:]]*=.*|$k = $v|" "$conf"
		else
			echo "$k = $v" >>"$conf"
		fi
	done
	rm -f /etc/fapolicyd/fapolicyd.rules /etc/fapolicyd/rules.d/*
	cat >/etc/fapolicyd/rules.d/10-sigward-bench.rules <<'EOF'
# sigward benchmark: trusted files (trust database + SHA-256 integrity) are allowed
allow perm=any all : trust=1
deny_audit perm=any all : all
EOF
	fagenrules >"$LOGS/fagenrules.log" 2>&1 || die "fagenrules failed: $(cat "$LOGS/fagenrules.log")"
	# The trust database: our files with their size and SHA-256, and the
	# "tampered" file with another content's digest (same size).
	local f trust=/etc/fapolicyd/trust.d/sigward-bench.trust
	: >"$trust"
	for f in "$RO_FILE" "$RW_FILE" "$RO_ELF" "$RW_ELF"; do
		printf '%s %s %s\n' "$f" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -d' ' -f1)" >>"$trust"
	done
	printf '%s %s %s\n' "$FAPO_CHECK/tampered.txt" "$(stat -c %s "$FAPO_CHECK/tampered.txt")" \
		"$(echo "content B, not trusted...." | sha256sum | cut -d' ' -f1)" >>"$trust"
	mkdir -p /run/fapolicyd
	chown root:fapolicyd /run/fapolicyd 2>/dev/null || true
	chmod 0770 /run/fapolicyd
	fapolicyd-cli --check-config >"$LOGS/fapolicyd-check-config.log" 2>&1 ||
		die "fapolicyd-cli --check-config: $(cat "$LOGS/fapolicyd-check-config.log")"
	cp /etc/fapolicyd/fapolicyd.conf "$OUT/fapolicyd.conf"
	cp /etc/fapolicyd/compiled.rules "$OUT/fapolicyd.rules"
	cp "$trust" "$OUT/fapolicyd.trust"
}

start_fapolicyd() { # TAG [--debug]
	local tag=$1 mode=${2:---debug-deny}
	if [ -e /run/fapolicyd.pid ] && pgrep -x fapolicyd >/dev/null; then
		die "a fapolicyd is already running"
	fi
	rm -f /run/fapolicyd.pid
	timeout -k 10 "$LISTENER_LIMIT" fapolicyd "$mode" --permissive >/dev/null 2>"$LOGS/$tag.log" &
	FA_T=$!
	LISTENERS+=("$FA_T")
	if ! wait_for_line "$LOGS/$tag.log" 'Starting to listen for events' 60 "$FA_T"; then
		if grep -q 'Cannot change to uid' "$LOGS/$tag.log" && [ -z "$FAPO_UID_NOTE" ]; then
			# e.g. a container whose bounding set lacks a capability that
			# fapolicyd keeps when it drops root (CAP_SYS_RESOURCE here).
			stop_listener "$FA_T"
			sed -i -E 's/^[[:space:]]*uid[[:space:]]*=.*/uid = 0/; s/^[[:space:]]*gid[[:space:]]*=.*/gid = 0/' \
				/etc/fapolicyd/fapolicyd.conf
			cp /etc/fapolicyd/fapolicyd.conf "$OUT/fapolicyd.conf"
			FAPO_UID_NOTE="fapolicyd could not switch to its own uid here ($(grep -m1 'Cannot change to uid' "$LOGS/$tag.log")); it runs as root (uid = 0, gid = 0)"
			log "$FAPO_UID_NOTE"
			start_fapolicyd "$@"
			return
		fi
		die "fapolicyd did not start: $(tail -n 5 "$LOGS/$tag.log")"
	fi
	FA_PID=$(pgrep -P "$FA_T" -x fapolicyd || true)
	[ -n "$FA_PID" ] || die "cannot find fapolicyd's pid"
}

# fapolicyd's own counters (SIGUSR1 + an event to provoke the report).
fapolicyd_state() { # OUTFILE
	rm -f /run/fapolicyd.state
	kill -USR1 "$FA_PID"
	local i
	for ((i = 0; i < 100; i++)); do
		cat "$FAPO_CHECK/untrusted.txt" >/dev/null
		[ -s /run/fapolicyd.state ] && break
		sleep 0.05
	done
	sleep 0.1
	cp /run/fapolicyd.state "$1" 2>/dev/null || echo "(no state report)" >"$1"
	rm -f /run/fapolicyd.state
}

# Adds the trust entries of a tree of parts 9-10 (made by trust_list) to
# fapolicyd's file backend, in a trust.d file of their own.
fapolicyd_trust_tree() { # NAME LIST
	[ "$FAPO_OK" = 1 ] || return 0
	cp "$2" "/etc/fapolicyd/trust.d/sigward-bench-$1.trust"
}
fapolicyd_untrust_tree() { # NAME
	rm -f "/etc/fapolicyd/trust.d/sigward-bench-$1.trust"
}

fapolicyd_verify() { # [FILE...: tree files that must be opened as trusted too]
	[ "$FAPO_OK" = 1 ] || return 0
	log "checking that fapolicyd consults its trust database and SHA-256 (--debug run)"
	start_fapolicyd fapolicyd-verify --debug
	cat "$RO_FILE" "$RW_FILE" "$FAPO_CHECK/untrusted.txt" "$FAPO_CHECK/tampered.txt" "$@" >/dev/null
	"$RO_ELF"
	"$RW_ELF"
	sleep 0.2
	stop_listener "$FA_T"
	grep -E '^rule=' "$LOGS/fapolicyd-verify.log" >"$OUT/fapolicyd-verify.txt" || true
	grep -E 'miscompare|not in the trust' "$LOGS/fapolicyd-verify.log" >>"$OUT/fapolicyd-verify.txt" || true
	fapolicyd-cli --dump-db 2>/dev/null | grep -F "$FS" >"$OUT/fapolicyd-db.txt" || true
	local f
	for f in "$RO_FILE" "$RW_FILE" "$RO_ELF" "$RW_ELF" "$@"; do
		grep -q "dec=allow .*path=$f .*trust=1" "$OUT/fapolicyd-verify.txt" ||
			die "fapolicyd did not allow $f as trusted; see $LOGS/fapolicyd-verify.log"
	done
	grep -q "path=$FAPO_CHECK/tampered.txt .*trust=0" "$OUT/fapolicyd-verify.txt" ||
		die "fapolicyd trusted a file whose SHA-256 differs from its trust entry; see $LOGS/fapolicyd-verify.log"
}

# ------------------------------------------------------------------ meta
{
	printf 'key\tvalue\n'
	printf 'date\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	printf 'cpu\t%s\n' "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
	printf 'cores\t%s\n' "$(nproc)"
	printf 'kernel\t%s\n' "$(uname -r)"
	printf 'mem_kib\t%s\n' "$(awk '/^MemTotal/ {print $2}' /proc/meminfo)"
	printf 'hypervisor\t%s\n' "$(lscpu 2>/dev/null | sed -n 's/^Hypervisor vendor:[[:space:]]*//p')"
	printf 'sha_ni\t%s\n' "$(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no)"
	printf 'protected_hardlinks\t%s\n' "$(cat /proc/sys/fs/protected_hardlinks 2>/dev/null || echo '?')"
	printf 'cpuidle\t%s\n' "$(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo none) / $(cat /sys/devices/system/cpu/cpuidle/current_governor 2>/dev/null || cat /sys/devices/system/cpu/cpuidle/current_governor_ro 2>/dev/null || echo none)"
	printf 'os\t%s\n' "$(sed -n 's/^PRETTY_NAME=//p' /etc/os-release 2>/dev/null | tr -d '"')"
	printf 'sigward\t%s\n' "$SIGWARD_VERSION"
	printf 'git\t%s\n' "$GIT_REV"
	printf 'fapolicyd\t%s\n' "$FAPO_VERSION"
	printf 'openssl\t%s\n' "$(openssl version)"
	printf 'rustc\t%s\n' "$(rustc --version 2>/dev/null || echo unknown)"
	printf 'gcc\t%s\n' "$(gcc --version | head -n1)"
	printf 'command\t%s\n' "sudo bash bench/run.sh${ORIG_ARGS[*]:+ ${ORIG_ARGS[*]}}"
	printf 'rounds\t%s\n' "$ROUNDS"
	printf 'ops\t%s\n' "$OPS"
	printf 'batch\t%s\n' "$BATCH"
	printf 'exec_ops\t%s\n' "$EXEC_OPS"
	printf 'exec_batch\t%s\n' "$EXEC_BATCH"
	printf 'lat_n\t%s\n' "$LAT_N"
	printf 'p5_rounds\t%s\n' "$P5_ROUNDS"
	printf 'fs\t%s\n' "$(awk -v m="$FS" '$2 == m {print $1 " " $3}' /proc/mounts)"
	printf 'workers\t%s\n' "$(nproc)"
	printf 'parts\t%s\n' "$PARTS"
} >"$OUT/meta.tsv"
T_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ parts 1-2
# One interleaved run: in each round every listener state in turn (the order
# rotates from round to round); in each state the same four files are timed.
measure_state() { # ROUND LISTENER
	local r=$1 l=$2 res what file path before after
	for what in open exec; do
		for file in ro rw; do
			case $what$file in
			openro) path=$RO_FILE ;; openrw) path=$RW_FILE ;;
			execro) path=$RO_ELF ;; execrw) path=$RW_ELF ;;
			esac
			[ "$l" != sigward ] || before=$(sw_counts)
			if [ "$what" = open ]; then
				res=$(drv "$BIN/openbench" "$path" "$OPS" "$BATCH" "$OPEN_WARMUP") ||
					die "openbench $path under $l failed"
			else
				res=$(drv "$BIN/execbench" "$path" "$EXEC_OPS" "$EXEC_BATCH" "$EXEC_WARMUP") ||
					die "execbench $path under $l failed"
			fi
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$l" "$what" "$file" \
				"$(kv "$res" median_ns)" "$(kv "$res" min_ns)" "$(kv "$res" max_ns)" "$(kv "$res" mean_ns)" \
				>>"$OUT/p12.tsv"
			if [ "$l" = sigward ]; then
				after=$(sw_counts)
				local b_ev b_hit b_miss a_ev a_hit a_miss a_km
				read -r b_ev b_hit b_miss _ _ <<<"$before"
				read -r a_ev a_hit a_miss _ a_km <<<"$after"
				printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$what" "$file" "$((a_ev - b_ev))" \
					"$((a_hit - b_hit))" "$((a_miss - b_miss))" "$a_km" >>"$OUT/p12_sigward.tsv"
			fi
			log "  round $r $l $what $file: $(kv "$res" median_ns) ns/op"
		done
	done
}

run_part12() {
	local states=(none minimal sigward) r i n l
	if [ "$FAPO_OK" = 1 ]; then states=(none minimal fapolicyd sigward); fi
	n=${#states[@]}
	printf 'round\tlistener\top\tfile\tmedian_ns\tmin_ns\tmax_ns\tmean_ns\n' >"$OUT/p12.tsv"
	printf 'round\top\tfile\tevents\tcache_hits\tcache_misses\tkernel_marks\n' >"$OUT/p12_sigward.tsv"
	printf 'round\tanswered\n' >"$OUT/p12_minimal.tsv"
	for ((r = 1; r <= ROUNDS; r++)); do
		log "parts 1-2, round $r/$ROUNDS"
		for ((i = 0; i < n; i++)); do
			l=${states[(i + r - 1) % n]}
			case $l in
			none)
				measure_state "$r" none ;;
			minimal)
				start_minimal "minimal-r$r"
				measure_state "$r" minimal
				stop_listener "$MIN_T"
				printf '%s\t%s\n' "$r" "$(sed -n 's/^minlisten: answered=//p' "$LOGS/minimal-r$r.err")" >>"$OUT/p12_minimal.tsv"
				;;
			fapolicyd)
				start_fapolicyd "fapolicyd-r$r"
				measure_state "$r" fapolicyd
				fapolicyd_state "$OUT/fapolicyd-state-r$r.txt"
				stop_listener "$FA_T"
				;;
			sigward)
				start_sigward "$POLICY_PLUG" "sigward-p12-r$r"
				measure_state "$r" sigward
				stop_listener "$SW_T"
				;;
			esac
		done
	done
}

# ------------------------------------------------------------------ part 3
run_part3() {
	log "part 3: cold verification of 1 GiB files vs openssl dgst -sha256"
	cat "$BIG1" "$BIG2" >/dev/null # page cache (no agent yet: no verification)
	start_sigward "$POLICY_PLUG" sigward-p3
	drv "$BIN/opentime" "$BIG1" "$BIG2" >/dev/null || die "priming open of the 1 GiB files failed"
	printf 'round\twhat\tfiles\tbytes\tns\tagent_misses\n' >"$OUT/p3.tsv"
	local r i what res t0 t1 p1 p2 m0 m1 order=(sigward1 sigward2 openssl1 openssl2)
	for ((r = 1; r <= ROUNDS; r++)); do
		for ((i = 0; i < 4; i++)); do
			what=${order[(i + r - 1) % 4]}
			case $what in
			sigward1 | sigward2)
				read -r _ _ m0 _ _ <<<"$(sw_counts)"
				if [ "$what" = sigward1 ]; then
					res=$(drv "$BIN/opentime" --touch "$BIG1") || die "opentime failed"
				else
					res=$(drv "$BIN/opentime" --touch "$BIG1" "$BIG2") || die "opentime failed"
				fi
				read -r _ _ m1 _ _ <<<"$(sw_counts)"
				printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$what" "${what#sigward}" "$(kv "$(tail -n1 <<<"$res")" bytes)" \
					"$(kv "$(tail -n1 <<<"$res")" wall_ns)" "$((m1 - m0))" >>"$OUT/p3.tsv"
				[ "$((m1 - m0))" -ge "${what#sigward}" ] ||
					log "  WARNING: sigward verified nothing (cache misses $((m1 - m0))); was the file kernel-cached?" ;;
			openssl1)
				t0=$(now_ns)
				drv openssl dgst -sha256 "$BIG1" >/dev/null
				t1=$(now_ns)
				printf '%s\topenssl1\t1\t%s\t%s\t\n' "$r" "$(stat -c %s "$BIG1")" "$((t1 - t0))" >>"$OUT/p3.tsv" ;;
			openssl2)
				t0=$(now_ns)
				drv openssl dgst -sha256 "$BIG1" >/dev/null &
				p1=$!
				drv openssl dgst -sha256 "$BIG2" >/dev/null &
				p2=$!
				wait "$p1" || die "openssl dgst failed"
				wait "$p2" || die "openssl dgst failed"
				t1=$(now_ns)
				printf '%s\topenssl2\t2\t%s\t%s\t\n' "$r" "$(( $(stat -c %s "$BIG1") + $(stat -c %s "$BIG2") ))" \
					"$((t1 - t0))" >>"$OUT/p3.tsv" ;;
			esac
			log "  round $r $what: $(( $(tail -n1 "$OUT/p3.tsv" | cut -f5) / 1000000 )) ms"
		done
	done
	sw_status >"$OUT/p3_status.json"
	stop_listener "$SW_T"
}

# ------------------------------------------------------------------ part 4
run_part4() {
	log "part 4: cached-open latency while a 2 GiB file is verified"
	cat "$HUGE" "$SMALL" >/dev/null
	start_sigward "$POLICY_PLUG" sigward-p4
	printf 'round\tsamples\tpending_all\tp50_ns\tp90_ns\tp99_ns\tp999_ns\tmax_ns\thuge_open_ns\tsample_start_ns\tsample_end_ns\n' >"$OUT/p4.tsv"
	local r res
	for ((r = 1; r <= ROUNDS; r++)); do
		res=$(drv "$BIN/latency" "$HUGE" "$SMALL" "$LAT_N") || die "latency driver failed"
		printf '%s' "$r" >>"$OUT/p4.tsv"
		for k in samples pending_all p50_ns p90_ns p99_ns p999_ns max_ns huge_open_ns sample_start_ns sample_end_ns; do
			printf '\t%s' "$(kv "$res" "$k")" >>"$OUT/p4.tsv"
		done
		printf '\n' >>"$OUT/p4.tsv"
		log "  round $r: p50 $(kv "$res" p50_ns) ns, p99 $(kv "$res" p99_ns) ns, max $(kv "$res" max_ns) ns, pending_all=$(kv "$res" pending_all)"
	done
	sw_status >"$OUT/p4_status.json"
	stop_listener "$SW_T"
}

# ------------------------------------------------------------------ part 5
# "PERM NOTIFY IGNORE": from /proc/PID/fdinfo of each fanotify descriptor,
# the marks with an event mask in the permission group (directory marks),
# in the other (notification) group, and the permission group's marks that
# only carry an ignore mask (kernel-cached files).
count_marks() {
	python3 - "$1" <<'PY'
import os, re, sys
pid = sys.argv[1]
perm = notify = ignore = 0
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:[fanotify]":
            continue
        lines = [l for l in open(f"/proc/{pid}/fdinfo/{fd}") if l.startswith("fanotify ino:")]
    except OSError:
        continue
    masks = []
    for l in lines:
        m = re.search(r" mask:([0-9a-f]+)", l)
        i = re.search(r" ignored_mask:([0-9a-f]+)", l)
        masks.append((int(m.group(1), 16) if m else 0, int(i.group(1), 16) if i else 0))
    is_perm = any((m | i) & 0x50000 for m, i in masks)
    for m, i in masks:
        if not is_perm:
            notify += 1
        elif m:
            perm += 1
        elif i:
            ignore += 1
print(perm, notify, ignore)
PY
}
rss_kib() { awk '/^VmRSS/ {r=$2} /^VmHWM/ {h=$2} END {print r, h}' "/proc/$1/status"; }

run_part5() {
	log "part 5: start-up and memory with 100,000 files in 10,000 directories"
	printf 'round\tkind\tstartup_ns\tperm_marks\tnotify_marks\tdirs_marked\trss_kib\thwm_kib\n' >"$OUT/p5.tsv"
	local r kind perm notif rss hwm dirs res
	for ((r = 1; r <= P5_ROUNDS; r++)); do
		kind=warm
		if [ "$r" = 1 ]; then
			# Drop dentries and inodes (not the page cache) so that the first
			# start walks the tree as after a reboot.
			sync
			if echo 2 2>/dev/null >/proc/sys/vm/drop_caches; then kind=cold; fi
		fi
		start_sigward "$POLICY_TREE" "sigward-p5-r$r"
		read -r perm notif _ <<<"$(count_marks "$SW_PID")"
		read -r rss hwm <<<"$(rss_kib "$SW_PID")"
		dirs=$(sw_status | python3 -c 'import json,sys; print(json.load(sys.stdin)["directories_marked"])')
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$kind" "$SW_STARTUP_NS" "$perm" "$notif" "$dirs" "$rss" "$hwm" >>"$OUT/p5.tsv"
		log "  start $r ($kind dentry cache): ready in $((SW_STARTUP_NS / 1000000)) ms, $perm permission marks, $notif notification marks, RSS $rss KiB"
		if [ "$r" = "$P5_ROUNDS" ]; then
			log "  opening all 100,000 files (filling the verdict cache)"
			res=$(drv "$BIN/openall" "$WORK/tree.list" 4) || die "openall failed: $res"
			local ev hits misses entries kmarks rss2 hwm2 perm2 notif2 ign2
			read -r ev hits misses entries kmarks <<<"$(sw_counts)"
			read -r perm2 notif2 ign2 <<<"$(count_marks "$SW_PID")"
			read -r rss2 hwm2 <<<"$(rss_kib "$SW_PID")"
			sw_status >"$OUT/p5_status.json"
			{
				printf 'key\tvalue\n'
				printf 'opened\t%s\nfailed\t%s\nwall_ns\t%s\n' "$(kv "$res" opened)" "$(kv "$res" failed)" "$(kv "$res" wall_ns)"
				printf 'events\t%s\ncache_hits\t%s\ncache_misses\t%s\ncache_entries\t%s\n' "$ev" "$hits" "$misses" "$entries"
				printf 'rss_kib\t%s\nhwm_kib\t%s\n' "$rss2" "$hwm2"
				printf 'kernel_marks\t%s\nperm_marks\t%s\nnotify_marks\t%s\nignore_marks\t%s\n' "$kmarks" "$perm2" "$notif2" "$ign2"
			} >"$OUT/p5_fill.tsv"
			log "  filled: $entries cache entries, RSS $rss2 KiB (HWM $hwm2 KiB), in $(( $(kv "$res" wall_ns) / 1000000 )) ms"
		fi
		stop_listener "$SW_T"
	done
}

# ------------------------------------------------------------------ part 6
run_part6() {
	log "part 6: criterion (cargo bench -p sigward-policy --bench formats${CRITERION_ARGS[*]:+ -- ${CRITERION_ARGS[*]}})"
	local args=()
	if [ ${#CRITERION_ARGS[@]} -gt 0 ]; then args=(-- "${CRITERION_ARGS[@]}"); fi
	if (cd "$REPO" && timeout 3600 cargo bench -p sigward-policy --bench formats "${args[@]}") \
		>"$OUT/criterion.log" 2>&1; then
		echo ok >"$OUT/criterion.status"
	else
		echo "failed (exit $?)" >"$OUT/criterion.status"
		log "  criterion failed; see $OUT/criterion.log"
	fi
}

# ------------------------------------------------------------------ part 7
DOS=$PLUG/dos
DOS_N=64            # huge files opened at once
DOS_SAMPLES=20      # cold opens of the small file timed per round

# The agent's CPU time (user + system) in ms.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print int(($12 + $13) * 1000 / hz) }' "/proc/$1/stat"; }

# Starts opentime on every file of a part 7 variant in the background (it
# blocks while they are hashed); sets BG.
BG=""
dos_open_bg() { # KIND LOG
	timeout -k 5 "$DRIVER_LIMIT" "$BIN/opentime" "$DOS/$1"/h*.bin >"$2" 2>&1 &
	BG=$!
}

run_part7() {
	log "part 7: $DOS_N huge (100 GiB, sparse) files opened at once"
	rm -rf "$DOS"
	mkdir -p "$DOS/unsigned" "$DOS/mismatch" "$DOS/rsa"
	local i f name
	for ((i = 0; i < DOS_N; i++)); do
		name=h$(printf %02d "$i").bin
		truncate -s 100G "$DOS/unsigned/$name"
		# Signed at 6 bytes, then grown to 100 GiB: a native signature
		# for another size.
		printf 'small\n' >"$DOS/mismatch/$name"
		sign "$DOS/mismatch/$name"
		truncate -s 100G "$DOS/mismatch/$name"
		truncate -s 100G "$DOS/rsa/$name"
		head -c 256 /dev/urandom >"$DOS/rsa/$name.sig"
	done
	chown -R "root:$USERS_GID" "$DOS"
	printf 'round\twhat\tvalue_ns\n' >"$OUT/p7.tsv"
	local r res s t0 t1 c0 c1 k
	for ((r = 1; r <= ROUNDS; r++)); do
		start_sigward "$POLICY_DOS" "sigward-p7-r$r"
		# All 64 files of a variant refused at once, without reading them.
		for k in unsigned mismatch; do
			res=$(drv "$BIN/opentime" "$DOS/$k"/h*.bin 2>"$LOGS/p7-$k-r$r.err") &&
				die "the $k huge files were allowed"
			[ "$(grep -c 'Operation not permitted' "$LOGS/p7-$k-r$r.err")" = "$DOS_N" ] ||
				die "not every $k huge file was denied: $(head -n 3 "$LOGS/p7-$k-r$r.err")"
			printf '%s\trefuse_%s\t%s\n' "$r" "$k" "$(kv "$(tail -n1 <<<"$res")" wall_ns)" >>"$OUT/p7.tsv"
			log "  round $r: $DOS_N $k files refused in $(( $(kv "$(tail -n1 <<<"$res")" wall_ns) / 1000000 )) ms"
		done
		# 64 files whose signature only their SHA-256 can refute: they are
		# hashed while a small signed file is opened cold.
		dos_open_bg rsa "$LOGS/p7-bg-r$r.log"
		sleep 0.3
		c0=$(cpu_ms "$SW_PID")
		for ((s = 0; s < DOS_SAMPLES; s++)); do
			res=$(drv "$BIN/opentime" --touch "$SMALL") || die "opentime $SMALL failed"
			# open_ns: the open itself, timed in the thread that made it
			printf '%s\tsmall_cold\t%s\n' "$r" "$(kv "$(head -n1 <<<"$res")" open_ns)" >>"$OUT/p7.tsv"
			sleep 0.02
		done
		c1=$(cpu_ms "$SW_PID")
		kill -0 "$BG" 2>/dev/null || log "  WARNING: the huge files were answered while the small file was timed"
		printf '%s\tcpu_while_hashing_ms\t%s\n' "$r" "$((c1 - c0))" >>"$OUT/p7.tsv"
		# Their openers killed (timeout(1) passes SIGTERM on to opentime,
		# which dies in open()): the hashing stops.
		kill -TERM "$BG" 2>/dev/null || true
		wait "$BG" 2>/dev/null || true
		sleep 0.5
		c0=$(cpu_ms "$SW_PID")
		sleep 2
		c1=$(cpu_ms "$SW_PID")
		printf '%s\tcpu_2s_after_kill_ms\t%s\n' "$r" "$((c1 - c0))" >>"$OUT/p7.tsv"
		log "  round $r: agent CPU in the 2 s after the openers were killed: $((c1 - c0)) ms"
		# SIGTERM while the 64 are hashed (or queued).
		dos_open_bg rsa "$LOGS/p7-bg2-r$r.log"
		sleep 0.5
		t0=$(now_ns)
		kill -TERM "$SW_PID"
		while kill -0 "$SW_PID" 2>/dev/null; do sleep 0.005; done
		t1=$(now_ns)
		wait "$SW_T" 2>/dev/null || true
		wait "$BG" 2>/dev/null || true
		printf '%s\tsigterm\t%s\n' "$r" "$((t1 - t0))" >>"$OUT/p7.tsv"
		log "  round $r: SIGTERM with $DOS_N huge files pending: exited in $(( (t1 - t0) / 1000000 )) ms"
	done
	rm -rf "$DOS"
}

# ------------------------------------------------------------------ part 8
# Opens outside the trees, on the filesystem of a tree that is a mount of
# its own (bind-mounted onto itself): the agent's filesystem mark raises an
# event for each file's first open there, and then leaves it to the kernel.
P8_DIRS=100
P8_FILES=100        # per directory
run_part8() {
	log "part 8: opens outside the trees on a tree's filesystem, tree bound onto itself or not"
	local base=$FS/p8 r i l res
	rm -rf "$base"
	mkdir -p "$base/plugins" "$base/outside"
	python3 - "$base/outside" "$P8_DIRS" "$P8_FILES" <<'PY'
import os, sys
base, dirs, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for d in range(dirs):
    p = os.path.join(base, "d%03d" % d)
    os.mkdir(p)
    for f in range(files):
        with open(os.path.join(p, "f%03d.txt" % f), "w") as fh:
            fh.write("data\n")
PY
	find "$base/outside" -type f -print0 >"$WORK/p8.list"
	local policy=$WORK/policy-p8.toml
	write_policy "$policy" "$base/plugins" 65536
	printf 'round\tstate\tpass\tfiles\twall_ns\n' >"$OUT/p8.tsv"
	local states=(none shared own-mount) n=3
	for ((r = 1; r <= ROUNDS; r++)); do
		for ((i = 0; i < n; i++)); do
			l=${states[(i + r - 1) % n]}
			if [ "$l" = own-mount ]; then mount --bind "$base/plugins" "$base/plugins"; fi
			if [ "$l" != none ]; then start_sigward "$policy" "sigward-p8-$l-r$r"; fi
			for pass in first again; do
				res=$(drv "$BIN/openall" "$WORK/p8.list" 1) || die "openall failed ($l)"
				[ "$(kv "$res" failed)" = 0 ] || die "opens outside the tree failed ($l): $res"
				printf '%s\t%s\t%s\t%s\t%s\n' "$r" "$l" "$pass" "$(kv "$res" opened)" "$(kv "$res" wall_ns)" >>"$OUT/p8.tsv"
			done
			if [ "$l" != none ]; then stop_listener "$SW_T"; fi
			if [ "$l" = own-mount ]; then umount "$base/plugins"; fi
		done
		log "  round $r done"
	done
	rm -rf "$base"
}

# ------------------------------------------------------------------ parts 9-10
# A workload run twice under each condition: *cold*, the first run after the
# listener is ready, with the page cache (and dentries and inodes) dropped
# just before; *warm*, a second run right after.
DROP_OK=1
drop_caches() {
	sync
	if [ "$DROP_OK" = 1 ] && ! echo 3 2>/dev/null >/proc/sys/vm/drop_caches; then
		DROP_OK=0
		log "WARNING: cannot write /proc/sys/vm/drop_caches: the cold runs of parts 9-10 start with warm caches"
	fi
}

# Per-pass sigward counters from two `sigward status --json` snapshots:
# events allowed denied verifications coalesced cache_hits cache_misses
# kernel_marks(now) latency_count latency_mean_s latency_p50_le_s
# latency_p99_le_s latency_max_le_s (the percentiles are the upper bounds of
# the histogram buckets that hold them).
sw_delta() { # BEFORE.json AFTER.json
	python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
def d(*keys):
    x, y = a, b
    for k in keys:
        x, y = x.get(k, {}), y.get(k, {})
    return (y or 0) - (x or 0)
def le(bucket):
    try:
        return float(bucket["le"])
    except (TypeError, ValueError):
        return float("inf")
ba, bb = a["latency"]["buckets"], b["latency"]["buckets"]
cum = [(le(y), y["count"] - x["count"]) for x, y in zip(ba, bb)]
n = cum[-1][1] if cum else 0
def pct(q):
    if n == 0:
        return ""
    return next(str(l) for l, c in cum if c >= q * n)
mean = (b["latency"]["sum_seconds"] - a["latency"]["sum_seconds"]) / n if n else 0
print(d("events"), d("verdicts", "allow"), d("verdicts", "deny"), d("verifications", "run"),
      d("verifications", "coalesced"), d("cache", "hits"), d("cache", "misses"),
      (b.get("kernel_cache") or {}).get("marks", -1), n, f"{mean:.6f}", pct(0.5), pct(0.99), pct(1.0),
      sep="\t")
PY
}

# One condition of a round: start the listener, the cold run, the warm run,
# stop it. RUN is a function that runs the workload once and prints its
# wall time in ns.
coldwarm_state() { # PART ROUND STATE TREE POLICY RUN
	local part=$1 r=$2 l=$3 tree=$4 policy=$5 run=$6 pass ns prev cur
	case $l in
	minimal) start_minimal "p$part-minimal-r$r" -r "$tree" ;;
	fapolicyd) start_fapolicyd "p$part-fapolicyd-r$r" ;;
	sigward)
		start_sigward "$policy" "sigward-p$part-r$r"
		prev=$OUT/p${part}_status_r${r}_ready.json
		sw_status >"$prev"
		;;
	esac
	for pass in cold warm; do
		if [ "$pass" = cold ]; then drop_caches; fi
		ns=$("$run") || die "part $part: the $pass run under $l failed; see $LOGS"
		printf '%s\t%s\t%s\t%s\n' "$r" "$l" "$pass" "$ns" >>"$OUT/p$part.tsv"
		if [ "$l" = sigward ]; then
			cur=$OUT/p${part}_status_r${r}_$pass.json
			sw_status >"$cur"
			printf '%s\t%s\t%s\n' "$r" "$pass" "$(sw_delta "$prev" "$cur")" >>"$OUT/p${part}_sigward.tsv"
			[ "$(tail -n 1 "$OUT/p${part}_sigward.tsv" | cut -f5)" = 0 ] ||
				log "  WARNING: sigward denied opens in the $pass run (see $cur)"
			prev=$cur
		fi
		log "  round $r $l $pass: $((ns / 1000000)) ms"
	done
	case $l in
	minimal)
		stop_listener "$MIN_T"
		printf '%s\t%s\t%s\n' "$r" "$(sed -n 's/^minlisten: marked=//p' "$LOGS/p$part-minimal-r$r.err")" \
			"$(sed -n 's/^minlisten: answered=//p' "$LOGS/p$part-minimal-r$r.err")" >>"$OUT/p${part}_minimal.tsv"
		;;
	fapolicyd)
		fapolicyd_state "$OUT/p${part}-fapolicyd-state-r$r.txt"
		stop_listener "$FA_T"
		;;
	sigward) stop_listener "$SW_T" ;;
	esac
}

coldwarm_rounds() { # PART TREE POLICY RUN
	local part=$1 states=(none minimal sigward) r i n
	if [ "$FAPO_OK" = 1 ]; then states=(none minimal fapolicyd sigward); fi
	n=${#states[@]}
	printf 'round\tstate\tpass\twall_ns\n' >"$OUT/p$part.tsv"
	printf 'round\tpass\tevents\tallowed\tdenied\tverifications\tcoalesced\tcache_hits\tcache_misses\tkernel_marks\tlatency_count\tlatency_mean_s\tlatency_p50_le_s\tlatency_p99_le_s\tlatency_max_le_s\n' \
		>"$OUT/p${part}_sigward.tsv"
	printf 'round\tmarked\tanswered\n' >"$OUT/p${part}_minimal.tsv"
	for ((r = 1; r <= ROUNDS; r++)); do
		log "part $part, round $r/$ROUNDS"
		for ((i = 0; i < n; i++)); do
			coldwarm_state "$part" "$r" "${states[(i + r - 1) % n]}" "$2" "$3" "$4"
		done
	done
	printf 'drop_caches\t%s\n' "$DROP_OK" >>"$OUT/p${part}_info.tsv"
}

# Part 9: `ansible-doc -l -t module` from the pip --target installation, with
# the distribution's python3, an empty scratch home, configuration and
# collections path (outside the image), and no bytecode written.
P9_HOME=$WORK/p9-home
p9_env() {
	rm -rf "$P9_HOME"
	mkdir -p "$P9_HOME/tmp" "$P9_HOME/collections"
	: >"$P9_HOME/ansible.cfg"
	P9_ENV=(-i -C "$P9_HOME" PATH=/usr/bin:/bin LC_ALL=C.UTF-8 HOME="$P9_HOME"
		PYTHONPATH="$REALSITE" PYTHONDONTWRITEBYTECODE=1 ANSIBLE_HOME="$P9_HOME/.ansible"
		ANSIBLE_LOCAL_TEMP="$P9_HOME/tmp" ANSIBLE_CONFIG="$P9_HOME/ansible.cfg"
		ANSIBLE_COLLECTIONS_PATH="$P9_HOME/collections" ANSIBLE_NOCOLOR=1)
}
P9_CMD=()
p9_run() {
	local t0 t1
	p9_env
	t0=$(now_ns)
	drv env "${P9_ENV[@]}" "${P9_CMD[@]}" >/dev/null 2>>"$LOGS/p9-ansible-doc.err" || return 1
	t1=$(now_ns)
	echo $((t1 - t0))
}

# What one run opens (strace, untimed, no listener): successful open calls,
# the distinct files and directories of the tree they reach, by kind.
p9_opens() { # STRACE_LOG
	python3 - "$1" "$REALTREE" <<'PY'
import collections, re, sys
log, tree = sys.argv[1], sys.argv[2] + "/"
pat = re.compile(r'\bopen(?:at2?)?\((?:[^,]*, )?"((?:[^"\\]|\\.)*)", ([^,)]*)[^)]*\)\s*=\s*(\d+)')
opens = 0
files, dirs, outside = set(), set(), set()
for line in open(log, errors="replace"):
    m = pat.search(line)
    if not m:
        continue
    opens += 1
    path, flags = m.group(1), m.group(2)
    if not path.startswith(tree):
        outside.add(path)
    elif "O_DIRECTORY" in flags:
        dirs.add(path)
    else:
        files.add(path)
kinds = collections.Counter()
for p in files:
    rel = p[len(tree):]
    ext = rel.rsplit(".", 1)[-1] if "." in rel.rsplit("/", 1)[-1] else ""
    if ext == "py" and "/modules/" in rel and not rel.endswith("/__init__.py"):
        kinds["module_py"] += 1
    elif ext in ("py", "pyc", "ps1", "sig", "json"):
        kinds[ext] += 1
    elif ext in ("yml", "yaml"):
        kinds["yaml"] += 1
    else:
        kinds["other"] += 1
print("key\tvalue")
print(f"opens\t{opens}\ntree_files\t{len(files)}\ntree_dirs\t{len(dirs)}\noutside_paths\t{len(outside)}")
for k in ("module_py", "pyc", "py", "ps1", "yaml", "json", "sig", "other"):
    print(f"tree_{k}\t{kinds[k]}")
PY
}

run_part9() {
	log "part 9: ansible-doc -l -t module over Ansible's plugin tree, cold and warm"
	P9_CMD=("$PY3" -s "$REALSITE/bin/ansible-doc" -l -t module)
	local info=$OUT/p9_info.tsv mods
	p9_env
	# Every package the loader imports must come from the tree.
	env "${P9_ENV[@]}" "$PY3" -s -c '
import sys, ansible, jinja2, markupsafe, yaml, resolvelib, packaging
bad = [m.__name__ for m in (ansible, jinja2, markupsafe, yaml, resolvelib, packaging) if not m.__file__.startswith(sys.argv[1])]
sys.exit(" ".join(bad) + " imported from outside " + sys.argv[1] if bad else 0)' "$REALSITE/" ||
		die "part 9: the tree's packages are not the ones imported"
	{
		printf 'key\tvalue\n'
		printf 'python\t%s\n' "$("$PY3" --version 2>&1)"
		printf 'ansible\t%s\n' "$(sed -n 's/^ansible==//p' "$REALTREE_REQ")"
		printf 'ansible_core\t%s\n' "$(sed -n 's/^ansible-core==//p' "$REALTREE_REQ")"
		printf 'files\t%s\n' "$(find "$REALTREE" -type f ! -name '*.sig' | wc -l)"
		printf 'pyc_files\t%s\n' "$(find "$REALTREE" -type f -name '*.pyc' | wc -l)"
		printf 'sig_files\t%s\n' "$(find "$REALTREE" -type f -name '*.sig' | wc -l)"
		printf 'dirs\t%s\n' "$(find "$REALTREE" -type d | wc -l)"
		printf 'bytes\t%s\n' "$(find "$REALTREE" -type f ! -name '*.sig' -printf '%s\n' | awk '{s += $1} END {print s}')"
		printf 'fapolicyd_trust_entries\t%s\n' "$(wc -l <"$FS/.realtree.trust")"
		printf 'command\t%s\n' "env -i LC_ALL=C.UTF-8 HOME=SCRATCH PYTHONPATH=$REALSITE PYTHONDONTWRITEBYTECODE=1 ANSIBLE_HOME=SCRATCH/.ansible ANSIBLE_LOCAL_TEMP=SCRATCH/tmp ANSIBLE_CONFIG=SCRATCH/ansible.cfg ANSIBLE_COLLECTIONS_PATH=SCRATCH/collections ${P9_CMD[*]}"
	} >"$info"
	# One untimed run with no listener: it must succeed, list the modules
	# and write nothing into the tree.
	touch "$WORK/p9.mark"
	sleep 1
	p9_env
	drv env "${P9_ENV[@]}" "${P9_CMD[@]}" >"$LOGS/p9-modules.txt" 2>"$LOGS/p9-ansible-doc.err" ||
		die "ansible-doc failed: $(tail -n 5 "$LOGS/p9-ansible-doc.err")"
	# Lines whose name ends with a dot: the empty-named candidates Ansible
	# makes of the .sig files (see bench/README.md).
	local empty
	empty=$(grep -cE '^[^ ]*\.[[:space:]]' "$LOGS/p9-modules.txt" || true)
	mods=$(($(wc -l <"$LOGS/p9-modules.txt") - empty))
	[ "$mods" -gt 1000 ] || die "ansible-doc listed only $mods modules; see $LOGS/p9-modules.txt"
	printf 'modules_listed\t%s\nempty_names_listed\t%s\n' "$mods" "$empty" >>"$info"
	if [ -n "$(find "$REALTREE" -newer "$WORK/p9.mark" -print -quit)" ]; then
		die "ansible-doc wrote into $REALTREE: $(find "$REALTREE" -newer "$WORK/p9.mark" | head -n 3)"
	fi
	if command -v strace >/dev/null; then
		p9_env
		drv strace -f -qq -e trace=open,openat,openat2 -o "$LOGS/p9-strace.txt" \
			env "${P9_ENV[@]}" "${P9_CMD[@]}" >/dev/null 2>>"$LOGS/p9-ansible-doc.err" ||
			die "ansible-doc under strace failed"
		p9_opens "$LOGS/p9-strace.txt" >"$OUT/p9_opens.tsv"
		gzip -f "$LOGS/p9-strace.txt"
		log "  one run opens: $(tail -n +2 "$OUT/p9_opens.tsv" | tr '\t\n' '= ')"
	fi
	log "  ansible-doc lists $mods modules"
	coldwarm_rounds 9 "$REALTREE" "$POLICY_REAL" p9_run
}

# Part 10: every program of the exec tree once, in sequence (execlist).
p10_run() {
	local res
	res=$(drv "$BIN/execlist" "$WORK/exectree.list" 2>>"$LOGS/p10-execlist.err") || return 1
	kv "$res" wall_ns
}

run_part10() {
	log "part 10: $((P10_DIRS * P10_EACH * 2)) signed scripts and ELFs run in sequence, cold and warm"
	{
		printf 'key\tvalue\n'
		printf 'programs\t%s\nscripts\t%s\nelfs\t%s\ndirs\t%s\nelf_bytes\t%s\n' \
			"$((P10_DIRS * P10_EACH * 2))" "$((P10_DIRS * P10_EACH))" "$((P10_DIRS * P10_EACH))" \
			"$P10_DIRS" "$(stat -c %s "$EXECTREE/d00/e0")"
		printf 'interpreter\t%s\n' "$(readlink -f /bin/sh)"
		printf 'fapolicyd_trust_entries\t%s\n' "$(wc -l <"$FS/.exectree.trust")"
	} >"$OUT/p10_info.tsv"
	p10_run >/dev/null || die "execlist failed with no listener: $(tail -n 3 "$LOGS/p10-execlist.err")"
	coldwarm_rounds 10 "$EXECTREE" "$POLICY_EXEC" p10_run
}

# ------------------------------------------------------------------ run
if want 1; then
	fapolicyd_configure
	fapolicyd_verify
	run_part12
	fapolicyd_restore
fi
if want 3; then run_part3; fi
if want 4; then run_part4; fi
if want 5; then run_part5; fi
if want 7; then run_part7; fi
if want 8; then run_part8; fi
# fapolicyd trusts each part's tree during that part only (it rebuilds its
# database from the trust files at every start: the 88,000 entries of part
# 9 take it half a minute).
if want 9 || want 10; then
	fapolicyd_configure
	if want 9; then
		fapolicyd_trust_tree realtree "$FS/.realtree.trust"
		fapolicyd_verify "$P9_CHECK" "$P9_CHECK_PYC"
		run_part9
		fapolicyd_untrust_tree realtree
	fi
	if want 10; then
		fapolicyd_trust_tree exectree "$FS/.exectree.trust"
		fapolicyd_verify "$EXECTREE/d00/e0" "$EXECTREE/d00/s0.sh"
		run_part10
		fapolicyd_untrust_tree exectree
	fi
	fapolicyd_restore
fi
printf 'fapolicyd_ok\t%s\nfapolicyd_note\t%s\nfapolicyd_uid_note\t%s\nelapsed_s\t%s\n' \
	"$FAPO_OK" "$FAPO_NOTE" "$FAPO_UID_NOTE" "$(($(date +%s) - T_START))" >>"$OUT/meta.tsv"
if [ "$CRITERION" = 1 ] && want 6; then
	run_part6
else
	echo "skipped (--no-criterion)" >"$OUT/criterion.status"
fi
printf 'total_s\t%s\nload_start\t%s\nload_end\t%s\n' "$(($(date +%s) - T_START))" "$LOAD_START" \
	"$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.tsv"

log "writing the report"
python3 "$BENCH_DIR/report.py" "$OUT" >"$BENCH_DIR/results/latest.md.new"
mv "$BENCH_DIR/results/latest.md.new" "$BENCH_DIR/results/latest.md"
cat "$BENCH_DIR/results/latest.md"
