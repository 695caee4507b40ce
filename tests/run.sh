#!/usr/bin/env bash
# The whole test suite, from a fresh machine to a verdict: README.md's
# second command, and what .ci/run runs after its lint steps. Run as root.
#
# 1. Installs what the suites need and the machine lacks: with apt, gcc,
#    openssl, ssh-keygen (openssh-client), minisign, systemd-journald (the
#    suites start their own), auditctl and ausearch (auditd), e2fsprogs and losetup (fault tests on loop
#    images), debootstrap, systemd-nspawn (systemd-container) and rpm (the
#    packaged agent under systemd), promtool (prometheus: the alerting
#    rules); with pip, Python's cryptography and PyYAML (signers and the
#    AiSOC manifest vectors), and AiSOC's released CLI, aisoc-cli 0.1.0.
# 2. cargo test --workspace --no-fail-fast: unit tests, the policy crate's
#    vectors, and the root-only end-to-end, attack and fault suites, each of
#    which must have run (not been skipped).
# 3. The attack suite again with its trees on a tmpfs.
# 4. tests/systemd/run.sh on Debian 13 (systemd 257) and Debian 12 (systemd
#    252): the .deb and .rpm, the unit under a real systemd.
#
# Takes about 25 minutes on 2 cores (most of it the attack and systemd
# suites). Exits non-zero when anything failed or did not run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "tests/run.sh: must run as root (the end-to-end tests use fanotify)" >&2
    exit 1
fi

# --- dependencies -----------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
apt_pkgs=()
command -v gcc >/dev/null || apt_pkgs+=(gcc libc6-dev)
command -v python3 >/dev/null || apt_pkgs+=(python3)
command -v journalctl >/dev/null || apt_pkgs+=(systemd)
[ -x /usr/lib/systemd/systemd-journald ] || apt_pkgs+=(systemd)
command -v truncate >/dev/null || apt_pkgs+=(coreutils)
# Interop tests sign with the real tools.
command -v openssl >/dev/null || apt_pkgs+=(openssl)
command -v ssh-keygen >/dev/null || apt_pkgs+=(openssh-client)
command -v minisign >/dev/null || apt_pkgs+=(minisign)
# Fault tests: a loop-mounted ext4 image that returns EIO (tests/e2e/faults.rs).
command -v mkfs.ext4 >/dev/null || apt_pkgs+=(e2fsprogs)
command -v losetup >/dev/null || apt_pkgs+=(mount)
command -v prlimit >/dev/null || apt_pkgs+=(util-linux)
# Packages and the systemd end-to-end test (tests/systemd/run.sh).
command -v debootstrap >/dev/null || apt_pkgs+=(debootstrap)
command -v systemd-nspawn >/dev/null || apt_pkgs+=(systemd-container)
command -v rpm >/dev/null || apt_pkgs+=(rpm)
# Kernel audit records of denials (tests/e2e/kernel_audit.rs): auditctl to
# enable auditing and load a rule, ausearch when auditd runs.
command -v auditctl >/dev/null || apt_pkgs+=(auditd)
# The alerting rules are checked with promtool (tests/e2e/alerts.rs).
command -v promtool >/dev/null || apt_pkgs+=(prometheus)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}"
fi
# The Python on PATH signs test files (cryptography) and computes the AiSOC
# vectors (PyYAML). pip first (a Debian python3 refuses that without
# --break-system-packages, PEP 668), then Debian's packages.
if ! python3 -c 'import cryptography, yaml' 2>/dev/null; then
    pip=(python3 -m pip install --quiet --disable-pip-version-check cryptography pyyaml)
    "${pip[@]}" 2>/dev/null || "${pip[@]}" --break-system-packages 2>/dev/null || {
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends python3-cryptography python3-yaml
    }
    python3 -c 'import cryptography, yaml' || {
        echo "tests/run.sh: cannot install Python's cryptography and PyYAML for $(command -v python3)" >&2
        exit 1
    }
fi

# AiSOC's released CLI (aisoc keygen, aisoc plugin new) makes the keys and
# plugins of tests/e2e/aisoc.rs and tests/e2e/upstream.rs. PyPI only (it needs cryptography >= 46,
# newer than Debian 12's): pip, with --break-system-packages where PEP 668
# asks for it.
if ! python3 -c 'import importlib.metadata as m, sys; sys.exit(m.version("aisoc-cli") != "0.1.0")' 2>/dev/null; then
    pip=(python3 -m pip install --quiet --disable-pip-version-check aisoc-cli==0.1.0)
    "${pip[@]}" 2>/dev/null || "${pip[@]}" --break-system-packages || {
        echo "tests/run.sh: cannot install aisoc-cli==0.1.0 from PyPI for $(command -v python3)" >&2
        exit 1
    }
    python3 -c 'import aisoc_cli.main, cryptography, yaml' || {
        echo "tests/run.sh: aisoc-cli is installed but does not import" >&2
        exit 1
    }
fi

# --- cargo test ----------------------------------------------------------------
echo "== cargo test --workspace --no-fail-fast"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" != 0 ]; then
    echo "tests/run.sh: tests failed (exit $status)" >&2
    exit "$status"
fi

# all_ran WHAT RESULT: RESULT, a cargo "test result:" line, says that at
# least 5 tests passed and none was ignored; otherwise the run stops here.
all_ran() {
    echo "$1: ${2:-<no result line>}"
    local passed ignored
    passed=$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' <<<"$2")
    ignored=$(sed -n 's/.* \([0-9]*\) ignored.*/\1/p' <<<"$2")
    if [ -z "$passed" ] || [ "$passed" -lt 5 ] || [ "${ignored:-0}" != 0 ]; then
        echo "tests/run.sh: the $1 tests did not all run (${2:-none found})" >&2
        exit 1
    fi
}

# The privileged suites (end-to-end, attack, fault and load tests) must have
# run, not been skipped.
for suite in e2e attacks faults; do
    all_ran "$suite" "$(awk -v s="tests/$suite/main.rs" '/Running / && index($0, s) {found=1} found && /^test result:/ {print; exit}' "$log")"
done
# The attack suite once more with its trees on a tmpfs (TMPDIR decides where
# the harness puts them): stores through a shared mapping change no time
# there, which the verdict cache must not rely on. The run above used the
# root filesystem (ext4 on this machine kind).
echo "== attack suite on tmpfs"
tmpfs=$(mktemp -d /var/tmp/sigward-tmpfs.XXXXXX)
mount -t tmpfs -o mode=1777 tmpfs "$tmpfs"
chmod 1777 "$tmpfs"
# (Each step may fail harmlessly: the tmpfs is normally gone already.)
trap 'umount "$tmpfs" 2>/dev/null || true; rmdir "$tmpfs" 2>/dev/null || true; rm -f "$log"' EXIT
set +e
TMPDIR=$tmpfs cargo test -p sigward --test attacks 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" != 0 ]; then
    echo "tests/run.sh: the attack suite failed on tmpfs (exit $status)" >&2
    exit "$status"
fi
all_ran "attacks on tmpfs" "$(grep '^test result:' "$log" | tail -n 1)"
umount "$tmpfs" && rmdir "$tmpfs"

# --- packages, and the packaged agent under a real systemd ------------------------
# Builds the .deb and .rpm, boots a Debian root with systemd-nspawn and checks
# the unit end to end (tests/systemd/run.sh; fails, never skips, when it
# cannot run), on Debian 13 (systemd 257) and Debian 12 (systemd 252). The
# Debian roots are cached in /var/cache/sigward-ci/.
for suite in trixie bookworm; do
    echo "== packages and systemd end-to-end on Debian $suite (tests/systemd/run.sh)"
    SIGWARD_CI_SUITE=$suite bash tests/systemd/run.sh
done

echo "tests/run.sh: all checks passed"
