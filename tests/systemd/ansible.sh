#!/bin/bash
# The Ansible checks of tests/systemd/run.sh, run inside the booted
# container after inside.sh (as root, in the container's namespaces): the
# role of contrib/ansible (collection sigward.agent) applied with
# `connection: local` to the container's own systemd. Prints one
# `PASS: name` or `FAIL: name` line per check; run.sh counts them.
#
# What the container holds when this starts (prepared by run.sh):
#   /results/ansible/          ansible-core and its dependencies (PYTHONPATH)
#   /results/collections/      ansible_collections/sigward/agent (the role)
#   /results/sigward.deb       the package, which the role installs
#   /results/ci.pub            the public key of /root/ci.key
#   /root/ci.key               the test private key
#   /srv/fleet/good.py (+ .sig)  signed with /root/ci.key
#   /srv/fleet/bad.py            unsigned
#   python3-apt                (the apt module needs it)
# inside.sh has removed (purged) the package by then; whatever it left is
# removed first, so that the role starts from a host without sigward.
set -euo pipefail
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
now_ms() { awk '{printf "%d\n", $1 * 1000}' /proc/uptime; }
finish() {
    local rc=$?
    if [ "$rc" != 0 ] && [ -z "${done_all:-}" ]; then
        bad "ansible.sh stopped unexpectedly (exit $rc)"
    fi
    echo "(ansible: $pass passed, $fail failed)"
}
trap finish EXIT

# try_open FILE: 0 opened, 1 refused with EPERM, 2 another error (as in
# inside.sh).
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
denied() {
    local rc=0
    try_open "$1" || rc=$?
    [ "$rc" = 1 ]
}
allowed() { try_open "$1"; }

# json FIELD_EXPR: reads one JSON document on stdin, prints the Python
# expression FIELD_EXPR of it (the document is `d`), or nothing.
json() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1" 2>/dev/null || true; }
# (Each may fail: `sigward status` exits 1 when degraded, 2 without an agent.)
disk_digest() { sigward check --json 2>/dev/null | json 'd["digest"]' || true; }
status_json() { timeout 30 sigward status --json 2>/dev/null | json "$1" || true; }
force_digest() { status_json 'd["policy"]["digest"]'; }
force_state() { status_json 'd["state"] + " " + d["mode"]'; }
sum() { { sha256sum "$1" 2>/dev/null || true; } | cut -c1-64; }
# task_output LOG TASK: what ansible printed for the task named TASK.
task_output() { awk -v t="$2" '/^(TASK|RUNNING HANDLER) \[/ { on = index($0, t) > 0; next } on' "$1"; }

# ---------------------------------------------------------------- ansible
T=/root/ansible-test
rm -rf "$T"
mkdir -p "$T"
export PYTHONPATH=/results/ansible
export ANSIBLE_COLLECTIONS_PATH=/results/collections ANSIBLE_HOME=/root/.ansible
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_RETRY_FILES_ENABLED=0
export ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 ANSIBLE_LOCALHOST_WARNING=0
cat >"$T/site.yml" <<'EOF'
- name: sigward
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: sigward.agent.sigward
EOF
version=$(python3 -m ansible.cli.playbook --version 2>&1 | head -n 1) || true
if [[ "$version" == "ansible-playbook [core "* ]]; then
    ok "ansible-playbook runs in the container: $version, $(python3 --version)"
else
    bad "ansible-playbook does not run in the container: $version"
    exit 1
fi

# play NAME VARS_FILE: runs the role with the variables of VARS_FILE; the
# output goes to /results/ansible-NAME.log. Sets play_rc, changed, failed
# (from PLAY RECAP) and failed_task (the task that failed, if any).
plays=0
play_ms=0
play() {
    local name=$1 vars=$2 log="/results/ansible-$1.log" t0 recap
    t0=$(now_ms)
    play_rc=0
    timeout 600 python3 -m ansible.cli.playbook -i localhost, "$T/site.yml" -e "@$vars" \
        >"$log" 2>&1 || play_rc=$?
    play_ms=$(($(now_ms) - t0))
    plays=$((plays + 1))
    recap=$(grep -E '^localhost +: ok=' "$log" | tail -n 1 || true)
    changed=$(sed -n 's/.* changed=\([0-9]*\).*/\1/p' <<<"$recap")
    failed=$(sed -n 's/.* failed=\([0-9]*\).*/\1/p' <<<"$recap")
    failed_task=$(awk '/^TASK \[/ { t = $0 } /^(fatal|failed): / { print t; exit }' "$log" |
        sed 's/^TASK \[\(.*\)\] \**$/\1/')
    note "play $name: rc $play_rc, $recap ($play_ms ms)"
}
# show_failure: what ansible said, for a FAIL line's diagnosis.
show_failure() { grep -E -A3 '^(fatal|failed):|ERROR' "/results/ansible-$1.log" | head -n 20 | cut -c1-400 | sed 's/^/      /'; }

# ---------------------------------------------------------------- a host without sigward
if dpkg -s sigward >/dev/null 2>&1; then
    timeout 120 dpkg -P sigward >/dev/null 2>&1 || true
fi
rm -rf /etc/sigward /var/lib/sigward /etc/systemd/system/sigward.service.d
systemctl daemon-reload
# A plugin host: a unit the role orders after sigward.
cat >/etc/systemd/system/fleet-app.service <<'EOF'
[Service]
Type=oneshot
ExecStart=/bin/true
EOF
systemctl daemon-reload
mkdir -p /var/lib/prometheus/node-exporter
rm -f /var/lib/prometheus/node-exporter/sigward.prom

# vars FILE ROLLOUT KEY_FILE [DROPINS_EXTRA [ABSENT [EXTRA_YAML]]]: writes a
# variables file. The good variables: the package from /results, the
# public key as vendor.pub, a drop-in naming it (10-vendor.toml), /srv/fleet
# trusting only that name, a plugin host, the metrics file.
vars() {
    local file=$1 rollout=$2 key=$3 dropins=${4:-} absent=${5:-[]} extra=${6:-}
    {
        echo "sigward_package_file: /results/sigward.deb"
        echo "sigward_rollout: $rollout"
        echo "sigward_keys:"
        echo "  - name: vendor"
        echo "    content: |"
        sed 's/^/      /' "$key"
        cat <<'EOF'
sigward_dropins:
  - name: 10-vendor.toml
    content: |
      [[trust.key]]
      name = "vendor"
      file = "/etc/sigward/keys.d/vendor.pub"
EOF
        if [ -n "$dropins" ]; then printf '%s\n' "$dropins"; fi
        echo "sigward_dropins_absent: $absent"
        cat <<'EOF'
sigward_trees:
  - path: /srv/fleet
    trust: [vendor]
sigward_plugin_hosts: [fleet-app]
sigward_metrics_file: /var/lib/prometheus/node-exporter/sigward.prom
EOF
        if [ -n "$extra" ]; then printf '%s\n' "$extra"; fi
    } >"$file"
}

# ---------------------------------------------------------------- a good change applies
vars "$T/audit.yml" audit /results/ci.pub
play audit "$T/audit.yml"
first_ms=$play_ms
mode_of() { stat -c '%U:%G %a' "$1" 2>/dev/null; }
layout=$(for f in /etc/sigward /etc/sigward/policy.d /etc/sigward/keys.d /etc/sigward/policy.toml \
    /etc/sigward/keys.d/vendor.pub /etc/sigward/policy.d/10-vendor.toml \
    /etc/sigward/policy.d/50-sigward-trees.toml /etc/sigward/policy.d/80-sigward-metrics.toml; do
    echo "$f $(mode_of "$f")"
done)
disk=$(disk_digest)
if [ "$play_rc" = 0 ] && [ "${failed:-1}" = 0 ] &&
    [ "$(dpkg-query -W -f '${Status}' sigward 2>/dev/null || true)" = "install ok installed" ] &&
    systemctl is-active --quiet sigward.service && [ "$(systemctl is-enabled sigward.service)" = enabled ] &&
    [ -z "$(grep -v -E ' root:root (755|644)$' <<<"$layout" || true)" ] &&
    grep -q '^ok: \[localhost\]' <<<"$(task_output /results/ansible-audit.log 'The policy on disk is the policy in force')" &&
    [ -n "$disk" ] && [ "$disk" = "$(force_digest)" ]; then
    ok "first run ($first_ms ms): the role installed the .deb (apt module), laid out /etc/sigward (root:root, 0755/0644), installed the key and drop-ins, and its assert passed: digest ${disk:0:16} in force"
else
    bad "first run: rc $play_rc, failed ${failed:-?} (task: ${failed_task:-none}), agent $(systemctl is-active sigward.service), digest on disk ${disk:-?} in force $(force_digest)"
    note "$layout"
    show_failure audit
fi
trees=$(status_json '" ".join(t["path"] + "=" + t["mode"] for t in d["trees"])')
if [ "$trees" = "/srv/fleet=audit" ] && allowed /srv/fleet/bad.py && allowed /srv/fleet/good.py; then
    ok "sigward_rollout: audit: /srv/fleet is in audit mode, the unsigned file opens ($trees)"
else
    bad "audit rollout: trees in force '$trees', bad.py $(allowed /srv/fleet/bad.py && echo allowed || echo refused)"
fi
after=$(systemctl show -P After fleet-app.service)
wants=$(systemctl show -P Wants fleet-app.service)
rwp=$(systemctl show -P ReadWritePaths sigward.service)
if grep -qw sigward.service <<<"$after" && grep -qw sigward.service <<<"$wants" &&
    grep -q /var/lib/prometheus/node-exporter <<<"$rwp" &&
    timeout 10 bash -c 'until grep -q "^sigward_policy_info" /var/lib/prometheus/node-exporter/sigward.prom 2>/dev/null; do sleep 0.2; done'; then
    ok "systemd drop-ins: fleet-app.service Wants= and After=sigward.service; sigward.service ReadWritePaths=$rwp and the agent writes the metrics file"
else
    bad "systemd drop-ins: fleet-app After='$after' Wants='$wants'; sigward ReadWritePaths='$rwp'; metrics file: $(ls -l /var/lib/prometheus/node-exporter/ 2>&1 | tr '\n' ' ')"
fi

play audit-again "$T/audit.yml"
if [ "$play_rc" = 0 ] && [ "$changed" = 0 ] && [ "$failed" = 0 ]; then
    ok "idempotence: a second run with the same variables reports changed=0 ($play_ms ms)"
else
    bad "second run: rc $play_rc, changed=${changed:-?} failed=${failed:-?}"
    grep -E '^changed: ' -B2 /results/ansible-audit-again.log | head -n 20 | sed 's/^/      /'
fi

# ---------------------------------------------------------------- refused before installation
# Each refused play must leave the file on disk as it was, and the agent
# enforcing the same policy as before (same digest, state ok).
before_digest=$(force_digest)
refused_cleanly() { # FILE SUM_BEFORE
    [ "$(sum "$1")" = "$2" ] && systemctl is-active --quiet sigward.service &&
        [ "$(force_digest)" = "$before_digest" ] && [ "$(force_state)" = "ok audit" ]
}

key_sum=$(sum /etc/sigward/keys.d/vendor.pub)
vars "$T/private-key.yml" audit /root/ci.key
play private-key "$T/private-key.yml"
if [ "$play_rc" != 0 ] && [[ "$failed_task" == *"Trusted keys"* ]] &&
    grep -q 'is a private key' /results/ansible-private-key.log && refused_cleanly /etc/sigward/keys.d/vendor.pub "$key_sum"; then
    ok "a private key as vendor.pub is refused by validate (sigward check --key): the play fails, keys.d/vendor.pub is unchanged, the agent runs the old policy"
else
    bad "private key as vendor.pub: rc $play_rc, failed task '${failed_task:-none}', vendor.pub $([ "$(sum /etc/sigward/keys.d/vendor.pub)" = "$key_sum" ] && echo unchanged || echo CHANGED), in force $(force_digest) ($(force_state)), before $before_digest"
    show_failure private-key
fi

echo 'not a key' >"$T/garbage.pub"
vars "$T/garbage-key.yml" audit "$T/garbage.pub"
play garbage-key "$T/garbage-key.yml"
if [ "$play_rc" != 0 ] && [[ "$failed_task" == *"Trusted keys"* ]] && refused_cleanly /etc/sigward/keys.d/vendor.pub "$key_sum"; then
    ok "a garbage key file is refused by validate: the play fails, keys.d/vendor.pub is unchanged"
else
    bad "garbage key: rc $play_rc, failed task '${failed_task:-none}', in force $(force_digest)"
    show_failure garbage-key
fi

vars "$T/bad-dropin.yml" audit /results/ci.pub '  - name: 20-broken.toml
    content: |
      mdoe = "enforce"'
play bad-dropin "$T/bad-dropin.yml"
if [ "$play_rc" != 0 ] && [[ "$failed_task" == *"Drop-ins"* ]] &&
    grep -q '/etc/sigward/policy.d/20-broken.toml:' /results/ansible-bad-dropin.log &&
    [ ! -e /etc/sigward/policy.d/20-broken.toml ] && refused_cleanly /etc/sigward/keys.d/vendor.pub "$key_sum"; then
    ok "a bad drop-in is refused by validate (sigward check --drop-in --as): the play fails naming /etc/sigward/policy.d/20-broken.toml, which is not installed; the old policy stays in force"
else
    bad "bad drop-in: rc $play_rc, failed task '${failed_task:-none}', 20-broken.toml $([ -e /etc/sigward/policy.d/20-broken.toml ] && echo INSTALLED || echo absent), in force $(force_digest)"
    show_failure bad-dropin
fi

# The tree trusts the key name "vendor", which only 10-vendor.toml defines.
dropin_sum=$(sum /etc/sigward/policy.d/10-vendor.toml)
vars "$T/remove.yml" audit /results/ci.pub '' '[10-vendor.toml]'
sed -i '/^sigward_dropins:/,/^sigward_dropins_absent:/{/^sigward_dropins_absent:/!d}' "$T/remove.yml"
play remove "$T/remove.yml"
if [ "$play_rc" != 0 ] && [[ "$failed_task" == *"without"* ]] &&
    grep -q 'vendor.*which is neither' /results/ansible-remove.log && refused_cleanly /etc/sigward/policy.d/10-vendor.toml "$dropin_sum"; then
    ok "removing a drop-in another file depends on is refused (sigward check --without): the play fails, 10-vendor.toml is still there"
else
    bad "removal of 10-vendor.toml: rc $play_rc, failed task '${failed_task:-none}', 10-vendor.toml $([ -e /etc/sigward/policy.d/10-vendor.toml ] && echo present || echo REMOVED)"
    show_failure remove
fi

# ---------------------------------------------------------------- audit first, then enforce
trees_sum=$(sum /etc/sigward/policy.d/50-sigward-trees.toml)
vars "$T/enforce.yml" enforce /results/ci.pub
play enforce-refused "$T/enforce.yml"
if [ "$play_rc" != 0 ] && [[ "$failed_task" == *"Refuse to enforce"* ]] &&
    grep -q '/srv/fleet/bad.py: unsigned' /results/ansible-enforce-refused.log &&
    refused_cleanly /etc/sigward/policy.d/50-sigward-trees.toml "$trees_sum" && allowed /srv/fleet/bad.py; then
    ok "sigward_rollout: enforce with an unsigned file in the tree: the scan gate fails the play (/srv/fleet/bad.py: unsigned), the tree stays in audit"
else
    bad "enforce gate: rc $play_rc, failed task '${failed_task:-none}', trees drop-in $([ "$(sum /etc/sigward/policy.d/50-sigward-trees.toml)" = "$trees_sum" ] && echo unchanged || echo CHANGED), $(force_state)"
    show_failure enforce-refused
fi

# Signed now: the scan finds nothing that would be denied, the tree is
# switched to enforce, and an unsigned file is denied.
mkdir -p /root/held
mv /srv/fleet/bad.py /root/held/bad.py
play enforce "$T/enforce.yml"
cp /root/held/bad.py /srv/fleet/late.py || true
if [ "$play_rc" = 0 ] && [ "$failed" = 0 ] && grep -q '/srv/fleet: no file would be denied' /results/ansible-enforce.log &&
    [ "$(force_state)" = "ok enforce" ] && [ "$(force_digest)" = "$(disk_digest)" ] &&
    denied /srv/fleet/late.py && allowed /srv/fleet/good.py; then
    ok "sigward_rollout: enforce with a clean scan: the tree is enforced ($play_ms ms), its assert passed, an unsigned file is denied and the signed one opens"
else
    bad "enforce: rc $play_rc, failed task '${failed_task:-none}', $(force_state), late.py $(denied /srv/fleet/late.py && echo denied || echo NOT-denied)"
    show_failure enforce
fi

# Enforced already: no scan, nothing changes (an unsigned file the agent
# denies does not hold the play back any more).
play enforce-again "$T/enforce.yml"
if [ "$play_rc" = 0 ] && [ "$changed" = 0 ] &&
    ! grep -q 'item=/srv/fleet' <<<"$(task_output /results/ansible-enforce-again.log 'Scan the trees to be enforced')"; then
    ok "idempotence in enforce: a second run reports changed=0 and scans nothing ($play_ms ms)"
else
    bad "second enforce run: rc $play_rc, changed=${changed:-?}, failed task '${failed_task:-none}'"
    grep -E '^changed: ' -B2 /results/ansible-enforce-again.log | head -n 20 | sed 's/^/      /'
fi

# ---------------------------------------------------------------- the assert catches a reload that did not apply
# An honest simulation of a reload that never reaches the agent (a handler
# pointed at the wrong unit, a SIGHUP lost): the reload command is `true`.
# The change (metrics every 2 s instead of 15) is valid, so validate
# installs it, and only the digest comparison can tell that it is not in
# force.
vars "$T/noop-reload.yml" enforce /results/ci.pub '' '[]' 'sigward_metrics_interval: 2
sigward_reload_command: "true"'
gen_before=$(status_json 'd["policy"]["generation"]')
play noop-reload "$T/noop-reload.yml"
gen_after=$(status_json 'd["policy"]["generation"]')
if [ "$play_rc" != 0 ] && [[ "$failed_task" == *"The policy on disk is the policy in force"* ]] &&
    grep -q 'sigward does not enforce the policy on disk' /results/ansible-noop-reload.log &&
    grep -q '^metrics_interval = 2$' /etc/sigward/policy.d/80-sigward-metrics.toml &&
    [ "$gen_before" = "$gen_after" ] && [ "$(force_digest)" != "$(disk_digest)" ]; then
    ok "a reload that does not apply (handler command: true) fails the play at the digest assert (generation $gen_after still in force)"
else
    bad "no-op reload: rc $play_rc, failed task '${failed_task:-none}', generation $gen_before -> $gen_after"
    show_failure noop-reload
fi

# The next ordinary run changes no file, but sees the digests differ and
# reloads.
vars "$T/recover.yml" enforce /results/ci.pub '' '[]' 'sigward_metrics_interval: 2'
play recover "$T/recover.yml"
if [ "$play_rc" = 0 ] && grep -q 'Reload sigward' /results/ansible-recover.log &&
    [ "$(force_digest)" = "$(disk_digest)" ] && [ "$(force_state)" = "ok enforce" ]; then
    ok "the next run sees the policy on disk is not in force, reloads, and its assert passes"
else
    bad "recovery run: rc $play_rc, failed task '${failed_task:-none}', in force $(force_digest), on disk $(disk_digest)"
    show_failure recover
fi

note "$plays plays"
done_all=yes
[ "$fail" = 0 ]
