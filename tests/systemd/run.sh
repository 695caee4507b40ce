#!/usr/bin/env bash
# End-to-end test of the .deb under a real systemd (run by .ci/run, as root).
#
# Builds the .deb (packaging/build-deb.sh), unpacks a Debian root made with
# debootstrap (trixie, systemd 257; SIGWARD_CI_SUITE=bookworm for systemd
# 252; cached as a tarball in /var/cache/sigward-ci/),
# installs the package into it without a running systemd (as an image build
# would), boots it with systemd-nspawn, and runs tests/systemd/inside.sh in
# it: the unit starts via READY=1, signed plugins load and unsigned ones are
# denied, the journal holds the records and the catalog explains them,
# reload, kill -9, restart and upgrade under load, stop with openers
# blocked, removal. Then tests/systemd/ansible.sh applies the Ansible role
# of contrib/ansible to the container (ansible-core from PyPI, run inside it
# with `connection: local`).
#
# Host state: everything lives in a temporary directory under /var/tmp (the
# container's root and the results) that is removed at exit, and in the
# rootfs cache. The host's /tmp is never used: systemd in the container only
# sees its own root. systemd-nspawn needs /run/systemd/nspawn (created if
# missing) and leaves /run/systemd/nspawn/propagate/MACHINE behind on hosts
# whose /run is not a tmpfs; that directory is removed at exit too. The
# wheels of ansible-core and python3-apt's packages are cached beside the
# rootfs tarballs.
#
# Fails (exit 1) when anything fails or cannot run: no silent skip. Prints
# PASS/FAIL per check and a final "systemd: N passed, N failed" line.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SUITE=${SIGWARD_CI_SUITE:-trixie}
MIRROR=${SIGWARD_CI_MIRROR:-http://deb.debian.org/debian}
INCLUDE=systemd,systemd-sysv,dbus,python3,procps,man-db
CACHE_DIR=/var/cache/sigward-ci
CACHE_MAX_AGE_DAYS=30
# ansible-core 2.18 runs on Python 3.11 to 3.13: bookworm's 3.11 and
# trixie's 3.13. Installed without its optional cryptography (vault only);
# PyYAML and MarkupSafe fall back to pure Python where their compiled
# modules (built for the host's Python) do not load.
ANSIBLE_CORE_VERSION=2.18.19
ANSIBLE_PINS="ansible-core==$ANSIBLE_CORE_VERSION jinja2==3.1.6 markupsafe==3.0.4 pyyaml==6.0.4 packaging==26.4 resolvelib==1.0.1"
MACHINE="sigward-ci-$$"

pass=0
fail=0
ok() {
    echo "PASS: $*"
    pass=$((pass + 1))
}
bad() {
    echo "FAIL: $*"
    fail=$((fail + 1))
}
ended=""
err_line=""
trap 'err_line=$LINENO' ERR
die() {
    bad "$*"
    ended=die
    exit 1
}
now_ms() { awk '{printf "%d\n", $1 * 1000}' /proc/uptime; }
# running PID: the process exists and is not a zombie.
running() { [ -n "$1" ] && [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
secs_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

[ "$(id -u)" = 0 ] || die "tests/systemd/run.sh must run as root"

WORK=""
NSPAWN_PID=""
INSIDE_PID=""
finish() {
    local rc=$?
    set +e
    trap '' INT TERM
    if [ -n "$INSIDE_PID" ] && running "$INSIDE_PID"; then
        kill -TERM "$INSIDE_PID" 2>/dev/null
    fi
    if running "$NSPAWN_PID"; then
        local init
        init=$(pgrep -P "$NSPAWN_PID" | head -n 1)
        [ -n "$init" ] && timeout 10 nsenter -t "$init" -m -p -- /bin/systemctl poweroff --no-block >/dev/null 2>&1
        for _ in $(seq 1 300); do running "$NSPAWN_PID" || break; sleep 0.1; done
        if running "$NSPAWN_PID"; then
            echo "container did not power off within 30 s: terminating systemd-nspawn" >&2
            kill -TERM "$NSPAWN_PID"
            for _ in $(seq 1 100); do running "$NSPAWN_PID" || break; sleep 0.1; done
            kill -KILL "$NSPAWN_PID" 2>/dev/null
        fi
    fi
    [ -n "$NSPAWN_PID" ] && wait "$NSPAWN_PID" 2>/dev/null
    [ -n "$INSIDE_PID" ] && wait "$INSIDE_PID" 2>/dev/null
    if [ -n "$WORK" ]; then
        rm -rf --one-file-system "$WORK"
    fi
    rm -rf "/run/systemd/nspawn/propagate/$MACHINE" "/run/systemd/nspawn/propagate/$MACHINE-apt"
    if [ -z "$ended" ]; then
        bad "tests/systemd/run.sh stopped unexpectedly (exit $rc${err_line:+, at line $err_line})"
        [ "$rc" = 0 ] && rc=1
    fi
    echo "systemd: $pass passed, $fail failed"
    if [ "$rc" = 0 ] && [ "$fail" != 0 ]; then
        rc=1
    fi
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tools
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v systemd-nspawn >/dev/null || need+=(systemd-container)
command -v nsenter >/dev/null || need+=(util-linux)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
        die "cannot install ${need[*]}"
fi

WORK=$(mktemp -d /var/tmp/sigward-systemd.XXXXXX)
mkdir -p "$WORK/results" "$WORK/tmp"
chmod 0755 "$WORK"
# Temporary files of the build and the tools go here too, not to /tmp.
export TMPDIR="$WORK/tmp"

# ---------------------------------------------------------------- package
t0=$(now_ms)
if ! bash "$ROOT/packaging/build-deb.sh" >"$WORK/build.log" 2>&1; then
    tail -n 40 "$WORK/build.log"
    die "packaging/build-deb.sh failed"
fi
deb=$(tail -n 1 "$WORK/build.log")
[ -f "$deb" ] || die "packaging/build-deb.sh printed no package path"
cp "$deb" "$WORK/results/sigward.deb"
ok "built $(basename "$deb") in $(secs_since "$t0") s"
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
SIGWARD="$TARGET_DIR/release/sigward"

# Both packages hold the same files: binary, unit, catalog, policy as a
# configuration file that upgrades keep, man pages (commands and the policy
# format), completions.
want_files="/usr/bin/sigward /usr/lib/systemd/system/sigward.service
/usr/lib/systemd/catalog/sigward.catalog /etc/sigward/policy.toml
/etc/sigward/keys.d/README /etc/sigward/policy.d/README
/usr/share/man/man1/sigward.1.gz /usr/share/man/man1/sigward-run.1.gz
/usr/share/man/man1/sigward-reload.1.gz /usr/share/man/man5/sigward.policy.5.gz
/usr/share/bash-completion/completions/sigward
/usr/share/fish/vendor_completions.d/sigward.fish /usr/share/doc/sigward/operations.md"
missing_files() { # LISTING (one path per line)
    local f
    for f in $want_files; do grep -qx "$f" <<<"$1" || printf '%s ' "$f"; done
}
deb_files=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's#^\.##')
deb_conf=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)
missing=$(missing_files "$deb_files")
if [ -z "$missing" ] && grep -qx /etc/sigward/policy.toml <<<"$deb_conf" &&
    grep -q /usr/share/zsh/vendor-completions/_sigward <<<"$deb_files" &&
    grep -q 'systemctl restart sigward.service' <<<"$(dpkg-deb -I "$deb" postinst)" &&
    grep -q 'systemctl stop sigward.service' <<<"$(dpkg-deb -I "$deb" prerm)"; then
    ok ".deb holds $(grep -vc '/$' <<<"$deb_files") files; /etc/sigward/policy.toml is a conffile"
else
    bad ".deb contents: missing $missing; conffiles: $deb_conf"
fi
t0=$(now_ms)
if bash "$ROOT/packaging/build-rpm.sh" >"$WORK/build-rpm.log" 2>&1; then
    rpm_file=$(tail -n 1 "$WORK/build-rpm.log")
    command -v rpm >/dev/null || {
        apt-get install -y -qq --no-install-recommends rpm >/dev/null || die "cannot install rpm"
    }
    rpm_files=$(rpm -qlp "$rpm_file" 2>/dev/null)
    rpm_conf=$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm_file" 2>/dev/null)
    missing=$(missing_files "$rpm_files")
    if [ -z "$missing" ] && grep -qx 'cn /etc/sigward/policy.toml' <<<"$rpm_conf" &&
        grep -q 'systemctl restart sigward.service' <<<"$(rpm -qp --scripts "$rpm_file" 2>/dev/null)"; then
        ok "built $(basename "$rpm_file") in $(secs_since "$t0") s: $(wc -l <<<"$rpm_files") files, policy %config(noreplace), scriptlets"
    else
        bad ".rpm contents: missing $missing; config flags: $(grep etc <<<"$rpm_conf" | tr '\n' ' ')"
    fi
else
    tail -n 30 "$WORK/build-rpm.log"
    bad "packaging/build-rpm.sh failed"
fi

# ---------------------------------------------------------------- root file system
t0=$(now_ms)
key=$(printf '%s\n' "$SUITE" minbase "$INCLUDE" "$MIRROR" | sha256sum | cut -c1-12)
tarball="$CACHE_DIR/$SUITE-minbase-$key.tar.gz"
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/lock"
flock -w 900 9 || die "cannot lock $CACHE_DIR/lock"
if [ -f "$tarball" ] && [ -n "$(find "$tarball" -mtime -"$CACHE_MAX_AGE_DAYS")" ]; then
    how="cached $(basename "$tarball")"
else
    build="$CACHE_DIR/build.$$"
    rm -rf "$build"
    if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$build" "$MIRROR" \
        >"$WORK/debootstrap.log" 2>&1; then
        tail -n 30 "$WORK/debootstrap.log"
        rm -rf "$build"
        die "debootstrap $SUITE failed"
    fi
    rm -rf "$build"/var/cache/apt/archives/*.deb
    tar -C "$build" -czf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$build"
    find "$CACHE_DIR" -maxdepth 1 -name "$SUITE-minbase-*.tar.gz" ! -name "$(basename "$tarball")" -delete
    how="debootstrapped, cached as $(basename "$tarball")"
fi
flock -u 9
rootfs="$WORK/root"
mkdir "$rootfs"
tar -C "$rootfs" -xzf "$tarball" || die "cannot unpack $tarball"
ok "Debian $SUITE root ready in $(secs_since "$t0") s ($how)"

mkdir -p /run/systemd/nspawn
nspawn=(systemd-nspawn --quiet --directory="$rootfs" --machine="$MACHINE" --register=no
    --keep-unit --private-network --link-journal=no
    # fanotify and open_by_handle_at are outside nspawn's own seccomp
    # allow-list; the capabilities they need (CAP_SYS_ADMIN,
    # CAP_DAC_READ_SEARCH) are in its default set.
    --system-call-filter='fanotify_init fanotify_mark open_by_handle_at')

# ---------------------------------------------------------------- ansible
# ansible-core for tests/systemd/ansible.sh, installed on the host into the
# directory the container sees as /results/ansible (its PYTHONPATH): the
# container has Python but no pip and no network. The wheels are cached.
t0=$(now_ms)
pyver=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
wheels="$CACHE_DIR/ansible-py$pyver-$(printf '%s\n' "$ANSIBLE_PINS" | sha256sum | cut -c1-12)"
flock -w 900 9 || die "cannot lock $CACHE_DIR/lock"
if [ -f "$wheels/complete" ]; then
    how="cached $(basename "$wheels")"
else
    rm -rf "$wheels.tmp"
    # shellcheck disable=SC2086 # one argument per pin
    if ! python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary :all: \
        -d "$wheels.tmp" $ANSIBLE_PINS >"$WORK/pip.log" 2>&1; then
        tail -n 20 "$WORK/pip.log"
        rm -rf "$wheels.tmp"
        die "pip download of $ANSIBLE_PINS failed"
    fi
    touch "$wheels.tmp/complete"
    rm -rf "$wheels"
    mv "$wheels.tmp" "$wheels"
    find "$CACHE_DIR" -maxdepth 1 -name "ansible-py$pyver-*" ! -name "$(basename "$wheels")" -exec rm -rf {} +
    how="downloaded from PyPI, cached as $(basename "$wheels")"
fi
# shellcheck disable=SC2086
if ! python3 -m pip install --quiet --disable-pip-version-check --no-index --no-deps \
    --find-links "$wheels" --target "$WORK/results/ansible" $ANSIBLE_PINS >"$WORK/pip.log" 2>&1; then
    flock -u 9
    tail -n 20 "$WORK/pip.log"
    die "pip install --target of $ANSIBLE_PINS failed"
fi
# The apt module needs python3-apt, which Ansible would install from the
# network (the container has none): installed now, with the network, from
# the cache when it holds the packages. The lists are the tarball's; when
# the mirror no longer has those versions, apt-get update first.
apt_cache="$CACHE_DIR/apt-$(basename "$tarball" .tar.gz)"
mkdir -p "$apt_cache/partial"
find "$CACHE_DIR" -maxdepth 1 -name "apt-$SUITE-minbase-*" ! -name "$(basename "$apt_cache")" -exec rm -rf {} +
apt_root=(systemd-nspawn --quiet --directory="$rootfs" --machine="$MACHINE-apt" --register=no --keep-unit
    --link-journal=no --pipe --bind="$apt_cache:/var/cache/apt/archives"
    --setenv=DEBIAN_FRONTEND=noninteractive)
if ! "${apt_root[@]}" -- apt-get install -y -q --no-install-recommends python3-apt >"$WORK/apt.log" 2>&1 &&
    ! { "${apt_root[@]}" -- apt-get update -q && "${apt_root[@]}" -- apt-get install -y -q --no-install-recommends python3-apt; } >>"$WORK/apt.log" 2>&1; then
    flock -u 9
    tail -n 20 "$WORK/apt.log"
    die "cannot install python3-apt into the $SUITE root"
fi
flock -u 9
rm -rf "/run/systemd/nspawn/propagate/$MACHINE-apt"
mkdir -p "$WORK/results/collections"
cp -r "$ROOT/contrib/ansible/ansible_collections" "$WORK/results/collections/"
cp "$ROOT/tests/systemd/ansible.sh" "$WORK/results/ansible.sh"
ok "ansible-core $ANSIBLE_CORE_VERSION ready in $(secs_since "$t0") s ($how), python3-apt installed in the root"

# ---------------------------------------------------------------- test data
keys="$WORK/keys"
mkdir -p "$keys"
out=$("$SIGWARD" keygen --out "$keys/ci" 2>&1) || die "sigward keygen failed: $out"
install -d -m 0755 "$rootfs/srv/plugins" "$rootfs/srv/big"
echo 'VALUE = "signed"' >"$rootfs/srv/plugins/good.py"
echo 'VALUE = "unsigned"' >"$rootfs/srv/plugins/bad.py"
"$SIGWARD" sign --key "$keys/ci.key" "$rootfs/srv/plugins/good.py" >/dev/null || die "sigward sign failed"
# A tree under /home (ProtectHome=read-only must leave it visible), with
# files only their owner may read (the agent reads them with
# CAP_DAC_READ_SEARCH, not CAP_DAC_OVERRIDE).
install -d -m 0700 -o 1000 -g 1000 "$rootfs/home/app" "$rootfs/home/app/plugins"
echo 'VALUE = "signed"' >"$rootfs/home/app/plugins/homegood.py"
echo 'VALUE = "unsigned"' >"$rootfs/home/app/plugins/homebad.py"
"$SIGWARD" sign --key "$keys/ci.key" "$rootfs/home/app/plugins/homegood.py" >/dev/null ||
    die "sigward sign failed"
chown 1000:1000 "$rootfs/home/app/plugins/"*
chmod 0600 "$rootfs/home/app/plugins/"*
install -m 0600 "$keys/ci.key" "$rootfs/root/ci.key"
# For ansible.sh: a tree the role protects, and the public key it installs.
install -d -m 0755 "$rootfs/srv/fleet"
echo 'VALUE = "signed"' >"$rootfs/srv/fleet/good.py"
echo 'VALUE = "unsigned"' >"$rootfs/srv/fleet/bad.py"
"$SIGWARD" sign --key "$keys/ci.key" "$rootfs/srv/fleet/good.py" >/dev/null || die "sigward sign failed"
install -m 0644 "$keys/ci.pub" "$WORK/results/ci.pub"
cp "$WORK/results/sigward.deb" "$rootfs/root/sigward.deb"
cp "$ROOT/tests/systemd/inside.sh" "$WORK/results/inside.sh"

# ---------------------------------------------------------------- install (no systemd running)
if ! "${nspawn[@]}" --pipe -- dpkg -i /root/sigward.deb >"$WORK/install.log" 2>&1; then
    cat "$WORK/install.log"
    die "dpkg -i in the root (no systemd running) failed"
fi
if [ -L "$rootfs/etc/systemd/system/sysinit.target.wants/sigward.service" ] &&
    [ -f "$rootfs/etc/sigward/policy.toml" ] && [ -d "$rootfs/etc/sigward/keys.d" ] &&
    [ -d "$rootfs/etc/sigward/policy.d" ] && [ -s "$rootfs/var/lib/systemd/catalog/database" ]; then
    ok "dpkg -i without a running systemd: unit enabled, policy and catalog installed"
else
    cat "$WORK/install.log"
    die "package installed incompletely: $(ls -l "$rootfs/etc/systemd/system/sysinit.target.wants/" "$rootfs/etc/sigward" 2>&1)"
fi
# The test policy: the package's policy.toml (keys_dir = /etc/sigward/keys.d)
# plus a drop-in protecting the test trees.
install -m 0644 "$keys/ci.pub" "$rootfs/etc/sigward/keys.d/ci.pub"
cat >"$rootfs/etc/sigward/policy.d/50-ci.toml" <<'EOF'
[[protect]]
path = "/srv/plugins"

[[protect]]
path = "/srv/big"

[[protect]]
path = "/home/app/plugins"
# A user's own tree: its files are the user's, verified rather than
# refused as writable by someone other than root.
untrusted_writers = "allow"
EOF

# ---------------------------------------------------------------- boot
t0=$(now_ms)
"${nspawn[@]}" --boot --console=read-only --bind="$WORK/results:/results" \
    </dev/null >"$WORK/boot.log" 2>&1 &
NSPAWN_PID=$!
init=""
booted=""
deadline=$(($(now_ms) + 120000))
while [ "$(now_ms)" -lt "$deadline" ] && running "$NSPAWN_PID"; do
    # The container's init is the child of systemd-nspawn running systemd.
    # Look again until it is found: a child seen early can be a helper
    # that execs or exits, and keeping its pid would wait for nothing.
    if [ -n "$init" ] && [ "$(cat "/proc/$init/comm" 2>/dev/null)" != systemd ]; then
        init=""
    fi
    if [ -z "$init" ]; then
        for child in $(pgrep -P "$NSPAWN_PID" || true); do
            if [ "$(cat "/proc/$child/comm" 2>/dev/null)" = systemd ]; then
                init=$child
                break
            fi
        done
    fi
    if [ -n "$init" ]; then
        state=$(timeout 5 nsenter -t "$init" -m -p -- /bin/systemctl is-system-running 2>/dev/null || true)
        case "$state" in
        running | degraded)
            booted=$state
            break
            ;;
        esac
    fi
    sleep 0.2
done
if [ -z "$booted" ]; then
    tail -n 40 "$WORK/boot.log"
    echo "container init: ${init:-not found}; last state: ${state:-none}; children of nspawn:"
    pgrep -a -P "$NSPAWN_PID" || true
    die "the container did not finish booting within 120 s"
fi
ok "container booted with systemd in $(secs_since "$t0") s (system $booted)"
if [ "$booted" = degraded ]; then
    timeout 10 nsenter -t "$init" -m -p -- /bin/systemctl --failed --no-pager --no-legend | sed 's/^/      /'
fi

# ---------------------------------------------------------------- checks inside
# inside.sh runs the agent once with SystemCallLog= for the system call
# check below; the kernel logs those calls (audit type 1326) in the host's
# ring buffer, which is only read, never cleared.
dmesg >/dev/null 2>&1 ||
    die "cannot read the kernel log (dmesg: $(dmesg 2>&1 >/dev/null | head -n 1)); the system call check needs CAP_SYSLOG and kernel.dmesg_restrict=0 or root"
# The kernel time of the last line now: the ring buffer of a host that has
# run for a while is full, drops its oldest lines as new ones come, and a
# count of lines would then find no new line at all.
dmesg_before=$(dmesg 2>/dev/null | sed -n 's/^\[ *\([0-9]*\.[0-9]*\)\].*/\1/p' | tail -n 1)
dmesg_before=${dmesg_before:-0}
t0=$(now_ms)
# In the background, waited for with `wait`, so that a signal to this script
# is handled at once (the trap powers the container off, which ends it).
: >"$WORK/inside.log"
timeout 900 nsenter -t "$init" -m -u -i -n -p -- \
    /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb \
    /bin/bash /results/inside.sh >"$WORK/inside.log" 2>&1 &
INSIDE_PID=$!
tail -n +1 -f --pid="$INSIDE_PID" "$WORK/inside.log" &
tail_pid=$!
inside_rc=0
wait "$INSIDE_PID" || inside_rc=$?
INSIDE_PID=""
wait "$tail_pid" || true
pass=$((pass + $(grep -c '^PASS: ' "$WORK/inside.log" || true)))
fail=$((fail + $(grep -c '^FAIL: ' "$WORK/inside.log" || true)))
if [ "$inside_rc" = 124 ]; then
    bad "inside.sh did not finish within 900 s"
elif [ "$inside_rc" != 0 ] && ! grep -q '^FAIL: ' "$WORK/inside.log"; then
    bad "inside.sh exited $inside_rc"
fi
echo "      checks inside the container took $(secs_since "$t0") s"
if [ -f "$WORK/results/security.txt" ]; then
    grep 'Overall exposure' "$WORK/results/security.txt" | sed 's/^/      /'
fi

# ---------------------------------------------------------------- system calls
# inside.sh ran two agents with SystemCallLog=: first one logging only
# fanotify_init (x86_64: 300), which proves that the kernel reports logged
# calls here, then one logging every call outside the unit's
# SystemCallFilter while it was exercised. The kernel names processes by
# their host pid, so the two are told apart by the call: any line for
# another call (from any of the agent's threads: matched by exe, since comm
# is the thread's name) is a call the filter would refuse.
if [ -s "$WORK/results/syscall-pids" ]; then
    seccomp_log=$(dmesg 2>/dev/null |
        awk -v t="$dmesg_before" 'match($0, /^\[ *[0-9]+\.[0-9]+\]/) {
            ts = substr($0, RSTART + 1, RLENGTH - 2) + 0; if (ts > t + 0) print }' |
        grep 'type=1326' | grep 'exe="/usr/bin/sigward"' || true)
    outside=$(sed -n 's/.* syscall=\([0-9]*\) .*/\1/p' <<<"$seccomp_log" | { grep -vx 300 || true; } |
        sort -un | tr '\n' ' ')
    if ! grep -q ' syscall=300 ' <<<"$seccomp_log"; then
        bad "system call check: the kernel did not report the logged fanotify_init (audit unavailable?)"
    elif [ -n "$outside" ]; then
        bad "the agent made system calls outside the unit's SystemCallFilter (x86_64 numbers): $outside"
    else
        ok "the agent made no system call outside the unit's SystemCallFilter (logged with SystemCallLog while exercised)"
    fi
else
    bad "inside.sh did not run the system call check"
fi

# ---------------------------------------------------------------- ansible
# After inside.sh, which removed the package: the role installs it again.
t0=$(now_ms)
: >"$WORK/ansible.log"
timeout 900 nsenter -t "$init" -m -u -i -n -p -- \
    /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb \
    /bin/bash /results/ansible.sh >"$WORK/ansible.log" 2>&1 &
INSIDE_PID=$!
tail -n +1 -f --pid="$INSIDE_PID" "$WORK/ansible.log" &
tail_pid=$!
ansible_rc=0
wait "$INSIDE_PID" || ansible_rc=$?
INSIDE_PID=""
wait "$tail_pid" || true
pass=$((pass + $(grep -c '^PASS: ' "$WORK/ansible.log" || true)))
fail=$((fail + $(grep -c '^FAIL: ' "$WORK/ansible.log" || true)))
if [ "$ansible_rc" = 124 ]; then
    bad "ansible.sh did not finish within 900 s"
elif [ "$ansible_rc" != 0 ] && ! grep -q '^FAIL: ' "$WORK/ansible.log"; then
    bad "ansible.sh exited $ansible_rc"
fi
echo "      Ansible checks took $(secs_since "$t0") s"
if [ "$ansible_rc" != 0 ]; then
    for log in "$WORK"/results/ansible-*.log; do
        [ -f "$log" ] || continue
        echo "--- $(basename "$log") (last 25 lines)"
        tail -n 25 "$log" | cut -c1-400
    done
fi

# ---------------------------------------------------------------- power off
t0=$(now_ms)
timeout 10 nsenter -t "$init" -m -p -- /bin/systemctl poweroff --no-block >/dev/null 2>&1 || true
for _ in $(seq 1 600); do running "$NSPAWN_PID" || break; sleep 0.1; done
if running "$NSPAWN_PID"; then
    bad "the container did not power off within 60 s"
else
    wait "$NSPAWN_PID" || true
    NSPAWN_PID=""
    ok "container powered off in $(secs_since "$t0") s"
fi
if [ "$fail" != 0 ]; then
    echo "--- journal of sigward.service in the container (last 60 lines)"
    journalctl --root="$rootfs" -u sigward.service -n 60 --no-pager 2>/dev/null ||
        tail -n 60 "$WORK/boot.log"
fi
ended=end
exit 0
