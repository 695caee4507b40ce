#!/bin/bash
# The checks of tests/systemd/run.sh, run inside the booted container (as
# root, in the container's namespaces). Prints one `PASS: name` or
# `FAIL: name` line per check; run.sh counts them. Every wait has a timeout.
#
# What the container holds when this starts (prepared by run.sh):
#   the sigward .deb, installed; sigward.service enabled and started at boot
#   /etc/sigward/keys.d/ci.pub                 the test key (trusted)
#   /etc/sigward/policy.d/50-ci.toml           protects /srv/plugins, /srv/big
#                                              and /home/app/plugins
#   /srv/plugins/good.py + good.py.sig         signed
#   /srv/plugins/bad.py                        unsigned
#   /home/app/plugins/homegood.py (+ .sig)     signed, uid 1000, mode 0600
#   /home/app/plugins/homebad.py               unsigned, uid 1000, mode 0600
#   /root/ci.key                               the test private key
#   /results/sigward.deb                       the package (for the upgrade check)
# It changes the container freely (drop-ins, policies, stops, removal): the
# container is thrown away afterwards.
set -u
export LC_ALL=C.UTF-8 SYSTEMD_PAGER='' SYSTEMD_COLORS=0
cd /

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
note() { echo "      $*"; }

# now_ms: monotonic milliseconds.
now_ms() { awk '{printf "%d\n", $1 * 1000}' /proc/uptime; }

# wait_until SECONDS COMMAND...: polls every 50 ms; 0 once COMMAND succeeds.
wait_until() {
    local limit=$(($(now_ms) + $1 * 1000))
    shift
    while [ "$(now_ms)" -lt "$limit" ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    "$@" >/dev/null 2>&1
}

prop() { systemctl show -P "$1" sigward.service; }

# signal_agent SIGNAL PID: only a real agent pid (never 0 or empty, which
# kill would take for this script's own process group).
signal_agent() {
    case "$2" in
    "" | 0 | *[!0-9]*) return 1 ;;
    esac
    kill "-$1" "$2"
}

# need_agent WHAT: the checks that follow need a running agent; without one
# they would only wait out their timeouts, so stop here (a failure).
need_agent() {
    systemctl is-active --quiet sigward.service && return 0
    bad "sigward.service is not active ($(prop ActiveState)/$(prop Result)): cannot check $1; stopping here"
    journalctl -u sigward.service -n 15 --no-pager | sed 's/^/      /'
    echo "(inside the container: $pass passed, $fail failed)"
    exit 1
}

# try_open FILE: 0 when the file could be opened, 1 when the open was
# refused with EPERM, 2 on any other error.
try_open() {
    python3 -B -c '
import errno, sys
try:
    open(sys.argv[1], "rb").close()
except PermissionError as e:
    sys.exit(1 if e.errno == errno.EPERM else 2)
except OSError:
    sys.exit(2)
' "$1"
}
denied() { try_open "$1"; [ $? = 1 ]; }
allowed() { try_open "$1"; }

# import_plugin NAME: imports /srv/plugins/NAME.py with python3; prints what
# python printed (stdout and stderr).
import_plugin() {
    timeout 20 python3 -B -c "
import sys
sys.path.insert(0, '/srv/plugins')
import $1
print('imported', $1.VALUE)
" 2>&1
}

journal_json() { journalctl -q --no-pager -o json "$@"; }

import_home() {
    timeout 20 python3 -B -c "
import sys
sys.path.insert(0, '/home/app/plugins')
import $1
print('imported', $1.VALUE)
" 2>&1
}

# ---------------------------------------------------------------- boot
if wait_until 30 systemctl is-active --quiet sigward.service; then
    ok "sigward.service active after boot (enabled by the package)"
else
    bad "sigward.service not active after boot: $(prop ActiveState)/$(prop Result)"
    systemctl status sigward.service --no-pager -l | sed 's/^/      /'
fi
sig_ts=$(prop ActiveEnterTimestampMonotonic)
sysinit_ts=$(systemctl show -P ActiveEnterTimestampMonotonic sysinit.target)
basic_ts=$(systemctl show -P ActiveEnterTimestampMonotonic basic.target)
if [ "${sig_ts:-0}" -gt 0 ] && [ "$sig_ts" -le "${sysinit_ts:-0}" ] && [ "$sig_ts" -le "${basic_ts:-0}" ]; then
    ok "at boot, sigward was enforcing before sysinit.target and basic.target ($((sig_ts / 1000)) ms <= $((sysinit_ts / 1000)) ms)"
else
    bad "boot ordering: sigward active at ${sig_ts} us, sysinit.target at ${sysinit_ts} us, basic.target at ${basic_ts} us (restarts since boot: $(prop NRestarts))"
    # What the first start at boot said, for the diagnosis.
    journalctl -b -o short-monotonic --no-pager -u sigward.service | head -n 25 | sed 's/^/      /'
fi

# ---------------------------------------------------------------- unit checks
out=$(systemd-analyze verify sigward.service 2>&1)
if [ $? = 0 ] && [ -z "$out" ]; then
    ok "systemd-analyze verify sigward.service: no findings"
else
    bad "systemd-analyze verify sigward.service: $out"
fi
security=$(systemd-analyze security sigward.service --no-pager 2>&1)
score=$(sed -n 's/.*Overall exposure level for sigward.service: \([0-9.]*\) \(.*\)/\1 \2/p' <<<"$security")
echo "$security" >/results/security.txt
if [ -n "$score" ] && awk -v s="${score%% *}" 'BEGIN { exit !(s < 3.0) }'; then
    ok "systemd-analyze security sigward.service: exposure $score"
else
    bad "systemd-analyze security sigward.service: exposure ${score:-unknown} (want < 3.0)"
fi

# ---------------------------------------------------------------- start: READY=1
systemctl stop sigward.service
t0=$(now_ms)
if timeout 60 systemctl start sigward.service; then
    t1=$(now_ms)
    state="$(prop ActiveState)/$(prop SubState)"
    status=$(prop StatusText)
    if [ "$state" = active/running ] && [ "$(prop Type)" = notify ] && [[ "$status" == enforcing* ]]; then
        ok "systemctl start sigward: active via READY=1 in $((t1 - t0)) ms (status: $status)"
    else
        bad "systemctl start sigward: state $state, type $(prop Type), status '$status'"
    fi
else
    bad "systemctl start sigward failed: $(prop Result)"
    journalctl -u sigward.service -n 20 --no-pager | sed 's/^/      /'
fi
main_pid=$(prop MainPID)
# LimitNOFILE=524288, or as much of it as the container allows: soft = hard.
read -r soft hard < <(awk '/^Max open files/ {print $4, $5}' "/proc/$main_pid/limits" 2>/dev/null)
if [ -n "${soft:-}" ] && [ "$soft" = "$hard" ] && [ "$soft" -ge 4096 ]; then
    ok "the agent starts with its open file limit raised by the unit ($soft)"
else
    bad "the agent's open file limit is ${soft:-?} (hard ${hard:-?}): LimitNOFILE not applied"
fi

# ---------------------------------------------------------------- enforcement
need_agent "enforcement"
out=$(import_plugin good)
if [ "$out" = "imported signed" ]; then
    ok "signed plugin imports (python3)"
else
    bad "signed plugin did not import: $out"
fi
out=$(import_plugin bad)
if grep -q "PermissionError: \[Errno 1\] Operation not permitted: '/srv/plugins/bad.py'" <<<"$out"; then
    ok "unsigned plugin denied: PermissionError"
else
    bad "unsigned plugin not denied: $out"
fi

# An opener that is not root: the record still names its program (the agent
# reads /proc/PID/exe of other users' processes with CAP_SYS_PTRACE, and
# ProtectProc=invisible does not hide them from it).
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups python3 -B -c 'open("/srv/plugins/bad.py")' 2>&1)
nobody_json() {
    journal_json -t sigward SIGWARD_DECISION=deny SIGWARD_UID=65534 _PID="$main_pid" -n 1
}
if grep -q PermissionError <<<"$out" && wait_until 10 test -n "$(nobody_json)" &&
    nobody_json | grep -q '"SIGWARD_EXE":"/usr/bin/python3'; then
    ok "a non-root opener is denied, and its record names its program (SIGWARD_UID=65534, SIGWARD_EXE)"
else
    bad "non-root opener: $out; record: $(nobody_json | cut -c1-300)"
fi
# A tree under /home whose files only their owner (uid 1000) may read.
out=$(import_home homegood)
if [ "$out" = "imported signed" ]; then
    ok "signed plugin under /home (mode 0600, another owner) imports: ProtectHome=read-only leaves it visible"
else
    bad "signed plugin under /home did not import: $out"
fi
if denied /home/app/plugins/homebad.py; then
    ok "unsigned plugin under /home denied"
else
    bad "unsigned plugin under /home not denied"
fi
# A directory created while the agent runs is marked (fanotify reports it;
# the agent opens it with open_by_handle_at).
mkdir /srv/plugins/newdir
echo 'VALUE = "new"' >/srv/plugins/newdir/fresh.py
if wait_until 5 denied /srv/plugins/newdir/fresh.py; then
    ok "a directory created after start is protected (unsigned file in it denied)"
else
    bad "unsigned file in a new directory not denied"
fi
if journal_json -t sigward MESSAGE_ID=a4248a8d2c6e4970bc843e6ed4ff1022 _PID="$main_pid" | grep -q .; then
    bad "the agent could not mark a directory: $(journalctl -t sigward MESSAGE_ID=a4248a8d2c6e4970bc843e6ed4ff1022 --no-pager -q | tail -n 3)"
else
    ok "every directory marked (no mark-failed record)"
fi

# ---------------------------------------------------------------- journal
deny_json() {
    journal_json -t sigward SIGWARD_DECISION=deny SIGWARD_PATH=/srv/plugins/bad.py \
        SIGWARD_UID=0 _PID="$main_pid" -n 1
}
if wait_until 10 test -n "$(deny_json)"; then
    fields=$(deny_json | python3 -c '
import json, sys
r = json.loads(sys.stdin.readline())
want = {
    "MESSAGE_ID": "cf11b4fada504a508560e9c8a86847a3",
    "SYSLOG_IDENTIFIER": "sigward",
    "SIGWARD_DECISION": "deny",
    "SIGWARD_REASON": "unsigned",
    "SIGWARD_ACCESS": "open",
    "SIGWARD_PATH": "/srv/plugins/bad.py",
    "SIGWARD_SIG_PATH": "/srv/plugins/bad.py.sig",
    "SIGWARD_MODE": "enforce",
    "SIGWARD_UID": "0",
}
bad = [f"{k}={r.get(k)!r} (want {v!r})" for k, v in want.items() if r.get(k) != v]
exe = r.get("SIGWARD_EXE") or ""
if "python3" not in exe:
    bad.append(f"SIGWARD_EXE={exe!r} (want the python3 that opened it)")
for k in ("SIGWARD_PID", "SIGWARD_GENERATION", "SIGWARD_DETAIL", "MESSAGE"):
    if not r.get(k):
        bad.append(f"{k} missing")
print("; ".join(bad) if bad else "ok " + " ".join(f"{k}={r[k]}" for k in sorted(r) if k.startswith("SIGWARD_")))
')
    if [[ "$fields" == ok* ]]; then
        ok "journalctl -o json: deny record with its fields"
        note "${fields#ok }"
    else
        bad "deny record fields: $fields"
    fi
else
    bad "no deny record for /srv/plugins/bad.py in the journal"
fi

catalog=$(journalctl -x -q --no-pager -t sigward MESSAGE_ID=cf11b4fada504a508560e9c8a86847a3 \
    SIGWARD_PATH=/srv/plugins/bad.py -n 1)
if grep -q "Subject: sigward denied open of /srv/plugins/bad.py (unsigned)" <<<"$catalog" &&
    grep -q "sigward sign --key release.key COPY" <<<"$catalog" &&
    grep -q "sigward verify /srv/plugins/bad.py" <<<"$catalog" &&
    grep -q "Defined-By: sigward" <<<"$catalog"; then
    ok "journalctl -x shows the catalog text for the denial"
    grep -m1 "Subject:" <<<"$catalog" | sed 's/^/      /'
else
    bad "journalctl -x does not show the catalog text:"
    sed 's/^/      /' <<<"$catalog"
fi
missing=""
for id in $(sed -n 's/^-- \([0-9a-f]\{32\}\)$/\1/p' /usr/lib/systemd/catalog/sigward.catalog); do
    journalctl --list-catalog "$id" 2>/dev/null | grep -q "$id" || missing="$missing $id"
done
n=$(grep -c '^-- [0-9a-f]\{32\}$' /usr/lib/systemd/catalog/sigward.catalog)
if [ -z "$missing" ] && [ "$n" -ge 15 ]; then
    ok "all $n catalog entries are in journald's catalog database"
else
    bad "catalog entries missing from journald's database:$missing"
fi

# ---------------------------------------------------------------- reload
generation() { prop StatusText | sed -n 's/.*generation \([0-9]*\).*/\1/p'; }
gen_before=$(generation)
cat >/etc/sigward/policy.d/60-audit.toml <<'EOF'
[[protect]]
path = "/srv/plugins"
mode = "audit"
EOF
out=$(timeout 60 systemctl reload sigward.service 2>&1)
rc=$?
if [ $rc = 0 ] && allowed /srv/plugins/bad.py && [ "$(import_plugin bad)" = "imported unsigned" ]; then
    ok "systemctl reload applies a changed policy (tree in audit mode: unsigned plugin imports)"
else
    bad "reload to audit mode: rc $rc ($out); bad.py $(allowed /srv/plugins/bad.py && echo allowed || echo denied)"
fi
if wait_until 10 test -n "$(journal_json -t sigward SIGWARD_DECISION=would-deny SIGWARD_PATH=/srv/plugins/bad.py -n 1)"; then
    ok "audit mode records would-deny for the unsigned plugin"
else
    bad "no would-deny record after the reload"
fi

echo 'mdoe = "enforce"' >/etc/sigward/policy.d/70-broken.toml
out=$(timeout 60 systemctl reload sigward.service 2>&1)
rc=$?
if [ $rc != 0 ] && systemctl is-active --quiet sigward.service && [ "$(prop MainPID)" = "$main_pid" ] &&
    allowed /srv/plugins/bad.py; then
    ok "systemctl reload with an invalid policy fails (rc $rc); the agent keeps the previous policy"
else
    bad "invalid policy reload: rc $rc, $(prop ActiveState), pid $(prop MainPID) (was $main_pid)"
fi
if journal_json -t sigward MESSAGE_ID=31c2ee4ec9b647f58cfdc7f7c14ee649 -n 1 | grep -q '70-broken.toml'; then
    ok "the refused reload is recorded with the file at fault"
else
    bad "no reload-refused record naming 70-broken.toml"
fi
rm -f /etc/sigward/policy.d/60-audit.toml /etc/sigward/policy.d/70-broken.toml
if timeout 60 systemctl reload sigward.service && denied /srv/plugins/bad.py; then
    ok "reload back to enforce: generation $gen_before -> $(generation), unsigned denied again"
else
    bad "reload back to enforce failed"
fi

# ---------------------------------------------------------------- status and metrics
need_agent "status and metrics"
out=$(timeout 30 sigward status 2>&1)
rc=$?
json_ok=$(timeout 30 sigward status --json 2>/dev/null | python3 -c '
import json, sys
r = json.loads(sys.stdin.readline())
print("yes" if r.get("ok") is True and r.get("mode") == "enforce" else "no: %r" % r)' 2>&1)
if [ $rc = 0 ] && grep -Eq '^mode +enforce' <<<"$out" && [ "$json_ok" = yes ]; then
    ok "sigward status and status --json answer from the unit's control socket"
else
    bad "sigward status: rc $rc, json $json_ok: $out"
fi
# The metrics file: ProtectSystem=strict refuses it until a drop-in adds the
# directory to ReadWritePaths, as the catalog entry of the failure says.
mkdir -p /var/lib/prometheus/node-exporter
cat >/etc/sigward/policy.d/80-metrics.toml <<'EOF'
[agent]
metrics_file = "/var/lib/prometheus/node-exporter/sigward.prom"
metrics_interval = 1
EOF
timeout 60 systemctl reload sigward.service
metrics_failed() {
    journal_json -t sigward MESSAGE_ID=6ecdfe4f17cd43c4bd5b0f5b30be4d9c _PID="$(prop MainPID)" -n 1 | grep -q .
}
if wait_until 10 metrics_failed &&
    journalctl -x -q --no-pager -t sigward MESSAGE_ID=6ecdfe4f17cd43c4bd5b0f5b30be4d9c -n 1 | grep -q 'ReadWritePaths=' &&
    [ ! -e /var/lib/prometheus/node-exporter/sigward.prom ]; then
    ok "metrics file outside ReadWritePaths: refused by ProtectSystem=strict, and journalctl -x says what to add"
else
    bad "metrics file without ReadWritePaths: no failure record (or the file was written)"
fi
mkdir -p /etc/systemd/system/sigward.service.d
printf '[Service]\nReadWritePaths=/var/lib/prometheus/node-exporter\n' \
    >/etc/systemd/system/sigward.service.d/60-metrics.conf
systemctl daemon-reload
timeout 60 systemctl restart sigward.service
if wait_until 10 grep -q '^sigward_' /var/lib/prometheus/node-exporter/sigward.prom; then
    ok "with the ReadWritePaths drop-in the agent writes the metrics file ($(grep -c '^sigward_' /var/lib/prometheus/node-exporter/sigward.prom) samples)"
else
    bad "no metrics file with the ReadWritePaths drop-in"
fi
main_pid=$(prop MainPID)

# ---------------------------------------------------------------- watchdog
need_agent "the watchdog"
# The agent pets the watchdog (WATCHDOG=1) while its event loop runs: systemd
# records the time of the last ping (set to the start time before the first).
wd=$(prop WatchdogUSec)
wd_ts=$(prop WatchdogTimestampMonotonic)
wd_pinged() { [ "$(prop WatchdogTimestampMonotonic)" -gt "${wd_ts:-0}" ]; }
t0=$(now_ms)
if [ "$wd" != 0 ] && [ "$wd" != infinity ] && wait_until 20 wd_pinged; then
    ok "the agent pings the watchdog (WatchdogSec=$wd; a ping came after $(($(now_ms) - t0)) ms)"
else
    bad "no WATCHDOG=1 from the agent within 20 s (WatchdogSec=$wd): systemd would kill it"
fi

# A frozen agent (SIGSTOP: nothing answers, no WATCHDOG=1) is killed by the
# watchdog and restarted. A drop-in shortens the intervals for the test.
printf '[Service]\nWatchdogSec=2s\nTimeoutAbortSec=1s\n' >/etc/systemd/system/sigward.service.d/40-watchdog-test.conf
systemctl daemon-reload
timeout 60 systemctl restart sigward.service
old_pid=$(prop MainPID)
t0=$(now_ms)
signal_agent STOP "$old_pid"
new_pid_up() {
    local p
    p=$(prop MainPID)
    [ "$p" != 0 ] && [ "$p" != "$old_pid" ] && [ "$(prop ActiveState)" = active ]
}
if wait_until 20 new_pid_up && wait_until 10 denied /srv/plugins/bad.py; then
    ok "a frozen agent is killed by the watchdog and restarted: enforcing again after $(($(now_ms) - t0)) ms (WatchdogSec=2s for the test)"
else
    bad "frozen agent not restarted by the watchdog within 30 s: $(prop ActiveState), pid $(prop MainPID)"
    signal_agent CONT "$old_pid" 2>/dev/null
fi
rm -f /etc/systemd/system/sigward.service.d/40-watchdog-test.conf
systemctl daemon-reload
timeout 60 systemctl restart sigward.service

# ---------------------------------------------------------------- kill -9
need_agent "kill -9"
restarts_before=$(prop NRestarts)
old_pid=$(prop MainPID)
t0=$(now_ms)
signal_agent KILL "$old_pid"
if wait_until 20 new_pid_up && wait_until 10 denied /srv/plugins/bad.py; then
    t1=$(now_ms)
    elapsed=$((t1 - t0))
    if [ "$elapsed" -le 5000 ] && [ "$(prop NRestarts)" -gt "${restarts_before:-0}" ]; then
        ok "kill -9: systemd restarted the agent (pid $old_pid -> $(prop MainPID)), enforcing again after $elapsed ms"
    else
        bad "kill -9: enforcing again only after $elapsed ms (want <= 5000), NRestarts $(prop NRestarts)"
    fi
else
    bad "kill -9: the agent was not restarted and enforcing within 30 s ($(prop ActiveState), pid $(prop MainPID))"
fi

# ---------------------------------------------------------------- under load
# systemd keeps the agent's fanotify groups in the unit's file descriptor
# store (FileDescriptorStoreMax=): while a loop opens an unsigned and a
# signed plugin, 20 SIGKILLs, 20 `systemctl restart`s and a package upgrade
# must let no open of the unsigned one through, and the signed one must
# keep opening. (Checked on systemd 252 and 257: both keep the store across
# an explicit restart; 254 made that the setting
# FileDescriptorStorePreserve=restart, its default.)
#
# Each cycle takes 3.5 s in all and the loops start 10 s after the last
# restart, so that the starts stay under StartLimitBurst=5 per
# StartLimitIntervalSec=10s (at most 3 in any 10 s).
cat >/tmp/openloop.py <<'PY'
import json, os, sys, time
bad, good, stop = sys.argv[1:4]
c = {"bad_opened": 0, "bad_denied": 0, "good_opened": 0, "good_denied": 0, "other": 0, "max_wait_ms": 0}
while not os.path.exists(stop):
    for path, kind in ((bad, "bad"), (good, "good")):
        t = time.monotonic()
        try:
            open(path, "rb").close()
            c[kind + "_opened"] += 1
        except PermissionError:
            c[kind + "_denied"] += 1
        except OSError:
            c["other"] += 1
        c["max_wait_ms"] = max(c["max_wait_ms"], int((time.monotonic() - t) * 1000))
    time.sleep(0.002)
# After the last cycle: the signed file opens again.
t = time.monotonic()
while time.monotonic() - t < 10:
    try:
        open(good, "rb").close()
        c["good_after"] = True
        break
    except OSError:
        time.sleep(0.05)
print(json.dumps(c))
PY
systemd_version=$(systemctl --version | awk 'NR == 1 { print $2 }')
# took_over: how many times an agent has taken over a stored group.
took_over() { journal_json -t sigward MESSAGE_ID=3c8e1f4a6b2d4e9f8a7c5b1d2e3f4a5b | grep -c 'took over'; }

kill_cycle() {
    signal_agent KILL "$(prop MainPID)" && wait_until 30 new_pid_up
}
restart_cycle() { timeout 60 systemctl restart sigward.service; }
upgrade_cycle() { timeout 120 dpkg -i /results/sigward.deb >/tmp/upgrade.log 2>&1; }

# under_load CYCLES ACTION: runs ACTION (a function) CYCLES times, 3.5 s
# apart, while the open loop runs. Sets: done_cycles, longest_ms (the
# longest ACTION, which for a restart is the time until READY=1),
# elapsed_all, counts (the loop's JSON), taken (stored groups taken over).
under_load() {
    local cycles=$1 action=$2 i t0 took before
    need_agent "$action under load"
    sleep 10
    before=$(took_over)
    rm -f /tmp/openloop.stop
    python3 -B /tmp/openloop.py /srv/plugins/bad.py /srv/plugins/good.py /tmp/openloop.stop \
        >/tmp/openloop.out 2>&1 &
    local loop=$!
    done_cycles=0
    longest_ms=0
    local t_all
    t_all=$(now_ms)
    for i in $(seq "$cycles"); do
        wait_until 30 systemctl is-active --quiet sigward.service || break
        old_pid=$(prop MainPID)
        t0=$(now_ms)
        "$action" || break
        took=$(($(now_ms) - t0))
        [ "$took" -gt "$longest_ms" ] && longest_ms=$took
        done_cycles=$((done_cycles + 1))
        wait_until 30 systemctl is-active --quiet sigward.service || break
        while [ $(($(now_ms) - t0)) -lt 3500 ]; do sleep 0.1; done
    done
    elapsed_all=$(($(now_ms) - t_all))
    wait_until 30 systemctl is-active --quiet sigward.service
    touch /tmp/openloop.stop
    wait "$loop"
    counts=$(tail -n 1 /tmp/openloop.out)
    taken=$(($(took_over) - before))
}

# loop_held COUNTS MAX_WAIT_MS GOOD_DENIED_MAX: the loop saw no unsigned
# open, opened the signed file (and again afterwards), waited at most
# MAX_WAIT_MS in one open, and saw at most GOOD_DENIED_MAX refusals of the
# signed file.
loop_held() {
    python3 -c '
import json, sys
c = json.loads(sys.argv[1])
ok = (c["bad_opened"] == 0 and c["good_opened"] > 0 and c.get("good_after")
      and c["other"] == 0 and c["max_wait_ms"] <= int(sys.argv[2])
      and c["good_denied"] <= int(sys.argv[3]))
sys.exit(0 if ok else 1)
' "$@"
}

# A SIGKILLed agent's events that it had read but not answered are refused
# by the next agent (it cannot know their files): a signed open that was
# in flight at a kill can be refused, once per kill at most.
under_load 20 kill_cycle
if [ "$done_cycles" = 20 ] && [ "$taken" -ge 20 ] && loop_held "$counts" 10000 20; then
    ok "20 x kill -9 under load in $elapsed_all ms: no open of the unsigned plugin got through; $counts; the stored group was taken over $taken times"
else
    bad "kill -9 under load: $done_cycles kills, $(prop ActiveState)/$(prop Result), counts $counts, taken over $taken times"
    journalctl -u sigward.service -n 20 --no-pager | sed 's/^/      /'
fi

# A restart (and an upgrade, which restarts) is a stop: the agent answers
# what it has read, verified, and leaves the rest queued for the next one.
# No opener waits longer than the longest restart plus 1 s.
under_load 20 restart_cycle
if [ "$done_cycles" = 20 ] && [ "$taken" -ge 20 ] &&
    loop_held "$counts" $((longest_ms + 1000)) 0; then
    ok "20 x systemctl restart under load in $elapsed_all ms (systemd $systemd_version): no open of the unsigned plugin got through, none of the signed one refused; longest restart $longest_ms ms; $counts; taken over $taken times"
else
    bad "systemctl restart under load: $done_cycles restarts (longest $longest_ms ms), $(prop ActiveState)/$(prop Result), counts $counts, taken over $taken times"
    journalctl -u sigward.service -n 20 --no-pager | sed 's/^/      /'
fi

# ---------------------------------------------------------------- upgrade
old_pid=$(prop MainPID)
under_load 1 upgrade_cycle
if [ "$done_cycles" = 1 ] && wait_until 10 systemctl is-active --quiet sigward.service &&
    [ "$(prop MainPID)" != "$old_pid" ] && denied /srv/plugins/bad.py &&
    [ "$(systemctl is-enabled sigward.service)" = enabled ]; then
    ok "package upgrade (dpkg -i over the installed version) restarts the agent: pid $old_pid -> $(prop MainPID)"
else
    bad "upgrade: $(prop ActiveState), pid $old_pid -> $(prop MainPID): $(cat /tmp/upgrade.log)"
fi
if [ "$taken" -ge 1 ] && loop_held "$counts" $((longest_ms + 1000)) 0; then
    ok "package upgrade under load (systemd $systemd_version): no open of the unsigned plugin got through, none of the signed one refused; upgrade took $longest_ms ms; $counts"
else
    bad "package upgrade under load: counts $counts, taken over $taken times, upgrade took $longest_ms ms"
fi

# The restart check can fail: with the store released on every stop
# (FileDescriptorStorePreserve=no, a setting systemd 254 added), the same
# loop sees unsigned opens get through.
if [ "$systemd_version" -ge 254 ]; then
    dropin=/etc/systemd/system/sigward.service.d/45-no-preserve.conf
    mkdir -p "${dropin%/*}"
    printf '[Service]\nFileDescriptorStorePreserve=no\n' >"$dropin"
    systemctl daemon-reload
    under_load 3 restart_cycle
    rm -f "$dropin"
    systemctl daemon-reload
    if python3 -c 'import json, sys; sys.exit(0 if json.loads(sys.argv[1])["bad_opened"] > 0 else 1)' "$counts"; then
        ok "control: with FileDescriptorStorePreserve=no, 3 restarts under load let unsigned opens through ($counts)"
    else
        bad "control: with FileDescriptorStorePreserve=no, 3 restarts let no unsigned open through ($counts): the restart check above proves nothing"
    fi
fi

# ---------------------------------------------------------------- cannot start
# A new agent that cannot start at all (here: a drop-in replacing the
# binary with /bin/false). systemd keeps the stored group while it retries
# (Restart=always): openers wait. After StartLimitBurst=5 failed starts in
# 10 s the unit is failed, systemd releases the store, and the kernel
# allows what waited and everything after: that is what `systemctl
# --failed` and the SigwardMissing alert report.
need_agent "cannot start"
sleep 10
dropin=/etc/systemd/system/sigward.service.d/46-broken.conf
printf '[Service]\nExecStart=\nExecStart=/bin/false\n' >"$dropin"
systemctl daemon-reload
t0=$(now_ms)
timeout 60 systemctl restart sigward.service 2>/dev/null
python3 -B -c 'open("/srv/plugins/bad.py", "rb").close()' 2>/dev/null &
opener=$!
sleep 2
waiting=no
[ "$(cut -d' ' -f1 "/proc/$opener/syscall" 2>/dev/null)" = 257 ] && waiting=yes
state_while=$(prop ActiveState)/$(prop SubState)
unit_failed() { [ "$(prop ActiveState)" = failed ]; }
gone() { ! kill -0 "$1" 2>/dev/null; }
wait_until 30 unit_failed
failed_after=$(($(now_ms) - t0))
state_after=$(prop ActiveState)
opener_rc=99
if wait_until 10 gone "$opener"; then
    wait "$opener"
    opener_rc=$?
else
    kill -9 "$opener" 2>/dev/null
fi
result=$(prop Result)
rm -f "$dropin"
systemctl daemon-reload
systemctl reset-failed sigward.service
# The Result is the last attempt's (exit-code here), or start-limit-hit.
if [ "$waiting" = yes ] && [ "$state_after" = failed ] && [ "$opener_rc" = 0 ]; then
    ok "an agent that cannot start: openers wait while systemd retries ($state_while); the unit failed ($result) after $failed_after ms, then the store is released and the waiting open is allowed"
else
    bad "cannot start: opener waiting: $waiting ($state_while), unit $state_after ($result) after $failed_after ms, opener exit $opener_rc"
fi
timeout 60 systemctl start sigward.service

# ---------------------------------------------------------------- stop
need_agent "stop"
# Openers of a big signed file that nothing has verified yet wait in open()
# while the agent hashes it; stopping the agent must leave none blocked.
stage=/var/tmp/stage
mkdir -p "$stage"
stop_check() {
    local try=$1 size_mb=$2
    rm -f "$stage"/blob*
    local name="blob$try.bin"
    python3 - "$stage/$name" "$size_mb" <<'EOF'
import os, sys
path, mb = sys.argv[1], int(sys.argv[2])
chunk = os.urandom(1 << 20)
with open(path, "wb") as f:
    for i in range(mb):
        f.write(chunk[:-8] + i.to_bytes(8, "little"))
    f.flush()
    os.fsync(f.fileno())
EOF
    # Signed outside the tree (signing reads the file), then moved in: a
    # rename opens nothing, so the openers below are the first to open it.
    sigward sign --key /root/ci.key "$stage/$name" >/dev/null || return 2
    mv "$stage/$name.sig" "/srv/big/$name.sig"
    mv "$stage/$name" "/srv/big/$name"
    local pids=() i
    for i in 1 2 3 4 5 6; do
        head -c 1 "/srv/big/$name" >/dev/null 2>"$stage/opener$i.err" &
        pids+=($!)
    done
    sleep 0.2
    local blocked=0 p
    for p in "${pids[@]}"; do
        # 257: openat. A process still in openat is waiting for the verdict.
        [ "$(cut -d' ' -f1 "/proc/$p/syscall" 2>/dev/null)" = 257 ] && blocked=$((blocked + 1))
    done
    local t0 t1
    t0=$(now_ms)
    timeout 60 systemctl stop sigward.service
    t1=$(now_ms)
    local finished=0 succeeded=0 deadline=$(($(now_ms) + 20000))
    for p in "${pids[@]}"; do
        while kill -0 "$p" 2>/dev/null && [ "$(now_ms)" -lt "$deadline" ]; do sleep 0.05; done
        if ! kill -0 "$p" 2>/dev/null; then
            finished=$((finished + 1))
            wait "$p" && succeeded=$((succeeded + 1))
        fi
    done
    # Whatever is still blocked is killed, so that nothing outlives the check.
    kill -9 "${pids[@]}" 2>/dev/null
    wait 2>/dev/null
    echo "$blocked ${#pids[@]} $finished $((t1 - t0)) $(systemctl is-active sigward.service) $succeeded"
}
result=""
for try in 1 2 3; do
    timeout 60 systemctl start sigward.service
    result=$(stop_check "$try" $((256 * try)))
    # shellcheck disable=SC2086 # split into its fields
    set -- $result
    # Retry with a bigger file when the agent was faster than the check.
    [ "${1:-0}" -gt 0 ] && break
done
# shellcheck disable=SC2086
set -- $result
# A stop does not wait for a large file's hashing: the verification stops
# at its next read and its openers get enforce mode's fail-closed answer
# (EPERM), within 2 s whatever is being hashed.
if [ "${2:-0}" -gt 0 ] && [ "${3:-}" = "${2:-}" ] && [ "${5:-}" != active ] &&
    [ "${1:-0}" -gt 0 ] && [ "${4:-99999}" -lt 2000 ]; then
    ok "systemctl stop with $1 of $2 openers blocked in open(): stopped in $4 ms, all $3 openers finished at once ($6 opens succeeded, the others were refused fail-closed)"
else
    bad "systemctl stop: ${1:-?} of ${2:-?} openers blocked, ${3:-?} finished (${6:-?} succeeded), stop took ${4:-?} ms, unit ${5:-?}"
fi

# ---------------------------------------------------------------- system calls
# Run the agent without its SystemCallFilter but with every call outside it
# logged (SystemCallLog=~...), exercise it, and let run.sh read the kernel's
# log: nothing may appear. A first run logging fanotify_init proves that the
# kernel reports logged calls at all.
dropin=/etc/systemd/system/sigward.service.d/50-syscall-log.conf
mkdir -p "${dropin%/*}"
# The unit's effective allow list, every group expanded.
allow=$(prop SystemCallFilter)
case "$allow" in
"" | "~"*) bad "unexpected SystemCallFilter: ${allow:0:80}" ;;
esac
: >/results/syscall-pids
printf '[Service]\nSystemCallFilter=\nSystemCallLog=fanotify_init\n' >"$dropin"
systemctl daemon-reload
timeout 60 systemctl restart sigward.service && echo "control $(prop MainPID)" >>/results/syscall-pids
sleep 0.5
printf '[Service]\nSystemCallFilter=\nSystemCallLog=~%s\n' "$allow" >"$dropin"
systemctl daemon-reload
if timeout 60 systemctl restart sigward.service; then
    echo "audit $(prop MainPID)" >>/results/syscall-pids
    import_plugin good >/dev/null
    import_plugin bad >/dev/null
    import_home homegood >/dev/null
    mkdir -p /srv/plugins/newdir2/sub
    echo x >/srv/plugins/newdir2/sub/x.py
    wait_until 5 denied /srv/plugins/newdir2/sub/x.py
    timeout 60 systemctl reload sigward.service
    echo 'mdoe = 1' >/etc/sigward/policy.d/70-broken.toml
    timeout 60 systemctl reload sigward.service 2>/dev/null
    rm -f /etc/sigward/policy.d/70-broken.toml
    timeout 60 sigward reload >/dev/null 2>&1
    timeout 30 sigward status >/dev/null 2>&1
    timeout 30 sigward status --json >/dev/null 2>&1
    timeout 30 sigward status --prometheus >/dev/null 2>&1
    sleep 2 # metrics file writes
    timeout 60 systemctl stop sigward.service
fi
rm -f "$dropin" /etc/systemd/system/sigward.service.d/60-metrics.conf /etc/sigward/policy.d/80-metrics.toml
systemctl daemon-reload
if timeout 60 systemctl start sigward.service && ! prop DropInPaths | grep -q syscall-log; then
    ok "system calls exercised with SystemCallLog; unit restored (run.sh reads the kernel log)"
else
    bad "could not restore the unit after the system call exercise"
fi

# ---------------------------------------------------------------- remove
timeout 60 systemctl start sigward.service
echo "# operator's edit" >>/etc/sigward/policy.toml
out=$(timeout 120 dpkg -r sigward 2>&1)
rc=$?
if [ $rc = 0 ] && ! systemctl is-active --quiet sigward.service && ! pgrep -x sigward >/dev/null &&
    [ ! -e /etc/systemd/system/sysinit.target.wants/sigward.service ] &&
    grep -q "operator's edit" /etc/sigward/policy.toml && [ -e /etc/sigward/policy.d/50-ci.toml ] &&
    [ -e /etc/sigward/keys.d/ci.pub ] && allowed /srv/plugins/bad.py; then
    ok "dpkg -r stops and disables the agent, and leaves the operator's policy, drop-ins and keys"
else
    bad "dpkg -r: rc $rc, $(systemctl is-active sigward.service), $(ls /etc/sigward 2>&1): $out"
fi

out=$(timeout 120 dpkg -P sigward 2>&1)
rc=$?
if [ $rc = 0 ] && [ ! -e /etc/sigward/policy.toml ] && [ -e /etc/sigward/policy.d/50-ci.toml ] &&
    [ -e /etc/sigward/keys.d/ci.pub ] && ! journalctl --list-catalog 2>/dev/null | grep -q sigward; then
    ok "dpkg -P deletes the package's conffiles and catalog entries, keeps the operator's drop-ins and keys"
else
    bad "dpkg -P: rc $rc, $(ls -R /etc/sigward 2>&1 | tr '\n' ' '): $out"
fi

echo "(inside the container: $pass passed, $fail failed)"
[ "$fail" = 0 ]
