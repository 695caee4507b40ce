#!/bin/sh
# Runs fuzz targets one after another (never two at once), each for
# SECONDS (default 600), at the lowest CPU priority, and records a summary
# of each run in $FUZZ_LOG_DIR/<target>.log (appended; default
# /var/tmp/fuzz-runs) and libFuzzer's full output in <target>.out.
#
#   fuzz/run_all.sh [SECONDS [TARGET...]]      (default: every target)
#
# Corpora grow in fuzz/corpus/<target>/ (not committed), starting from the
# committed seeds in fuzz/seeds/<target>/; crashes, timeouts and
# out-of-memory inputs are written to fuzz/artifacts/<target>/.
# A target that finds a crash stops early; the script goes on with the next.
set -u
cd "$(dirname "$0")" || exit 1
SECONDS_PER_TARGET=${1:-600}
[ $# -gt 0 ] && shift
TARGETS=${*:-"policy_toml native_sig rsa_sig trust_key_file aisoc_manifest aisoc_bundle cloacina_sig conductor_sig notur_sig minisign_sig sshsig allowed_signers"}
LOG_DIR=${FUZZ_LOG_DIR:-/var/tmp/fuzz-runs}
mkdir -p "$LOG_DIR"

for t in $TARGETS; do
    log="$LOG_DIR/$t.log"
    out="$LOG_DIR/$t.out"
    mkdir -p "corpus/$t" "artifacts/$t"
    before=$(ls "artifacts/$t" | wc -l)
    {
        echo "=== $t"
        echo "start: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "commit: $(git rev-parse --short HEAD 2>/dev/null) (+ working tree changes: $(git status --porcelain -- ../policy/src 2>/dev/null | wc -l) in policy/src)"
        echo "seeds: $(ls "seeds/$t" | wc -l) files; corpus before: $(ls "corpus/$t" | wc -l) files"
        echo "command: nice -n 19 cargo +nightly fuzz run -a -O $t corpus/$t seeds/$t -- -max_total_time=$SECONDS_PER_TARGET -timeout=10 -rss_limit_mb=2048 -print_final_stats=1"
    } >>"$log"
    start=$(date +%s)
    nice -n 19 cargo +nightly fuzz run -a -O "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$out" 2>&1
    rc=$?
    end=$(date +%s)
    {
        echo "end: $(date -u +%Y-%m-%dT%H:%M:%SZ) (exit $rc, $((end - start)) s wall, build included)"
        grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$out" | sed 's/^/libfuzzer: /'
        grep -E '^stat::' "$out"
        echo "corpus after: $(ls "corpus/$t" | wc -l) files, $(du -sb "corpus/$t" | cut -f1) bytes"
        after=$(ls "artifacts/$t" | wc -l)
        if [ "$rc" -ne 0 ] || [ "$after" -ne "$before" ]; then
            echo "FINDING: exit $rc; artifacts in fuzz/artifacts/$t:"
            ls -t "artifacts/$t" | head -5 | sed 's/^/  /'
            grep -E -m3 'panicked at|ERROR: libFuzzer|SUMMARY' "$out" | sed 's/^/  /'
        else
            echo "finding: none"
        fi
        echo
    } >>"$log"
done
echo "all done: $(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$LOG_DIR/run_all.log"
