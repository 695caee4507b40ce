#!/usr/bin/env python3
"""report.py RAW_DIR: turns the raw data written by bench/run.sh into the
markdown report (stdout). Missing parts are reported as not run.

Conventions: every timed value of parts 1-2 is, per round, the median over
batches of the per-operation time; the report gives the median of those
over the rounds, and ratios between medians measured on the same file.
"""
import csv
import glob
import os
import re
import statistics
import sys

RAW = sys.argv[1]


def path(name):
    return os.path.join(RAW, name)


def read_tsv(name):
    try:
        with open(path(name), encoding="utf-8") as f:
            return list(csv.DictReader(f, delimiter="\t"))
    except FileNotFoundError:
        return []


def read_kv(name):
    return {r["key"]: r["value"] for r in read_tsv(name)}


def read_text(name, default=""):
    try:
        with open(path(name), encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return default


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt_ns(ns, unit="us"):
    if ns is None:
        return "n/a"
    if unit == "us":
        return f"{ns / 1000:.2f} µs"
    if unit == "ms":
        return f"{ns / 1e6:.1f} ms"
    return f"{ns:.0f} ns"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    return "n/a" if r is None else f"{r:.2f}×"


def verdict(ok):
    if ok is None:
        return "n/a"
    return "**PASS**" if ok else "**MISS**"


meta = read_kv("meta.tsv")
out = []
w = out.append

w("# sigward benchmark report")
w("")
w(f"{meta.get('date', '?')} · sigward `{meta.get('sigward', '?')}` at `{meta.get('git', '?')}`")
w("")
w("## Machine")
w("")
w("| | |")
w("| --- | --- |")
mem = meta.get("mem_kib")
w(f"| CPU | {meta.get('cpu', '?')} ({meta.get('cores', '?')} cores; SHA-NI: {meta.get('sha_ni', '?')}) |")
w(f"| RAM | {int(mem) / 1048576:.1f} GiB |" if mem else "| RAM | ? |")
w(f"| kernel | {meta.get('kernel', '?')} (fs.protected_hardlinks = {meta.get('protected_hardlinks', '?')}) |")
w(f"| OS | {meta.get('os', '?')} |")
if meta.get("hypervisor"):
    w(f"| hypervisor | {meta['hypervisor']} |")
w(f"| cpuidle driver / governor | {meta.get('cpuidle', '?')} |")
w(f"| benchmark file system | `{meta.get('fs', '?')}` mounted at `/var/tmp/bench-fs` |")
w(f"| fapolicyd | {meta.get('fapolicyd', '?')} (Debian package) |")
w(f"| openssl | {meta.get('openssl', '?')} |")
w(f"| toolchain | {meta.get('rustc', '?')}; {meta.get('gcc', '?')} |")
w("")
w("## Reproduce")
w("")
w("From the root of a clone, as root:")
w("")
w("```sh")
w(meta.get("command", "sudo bash bench/run.sh"))
w("```")
w("")
w(
    f"Settings: {meta.get('rounds')} interleaved rounds; parts 1-2 time {meta.get('ops')} "
    f"open+close calls in batches of {meta.get('batch')} and {meta.get('exec_ops')} execs in "
    f"batches of {meta.get('exec_batch')} per condition, file and round; part 4 samples up to "
    f"{meta.get('lat_n')} cached opens per round; part 5 starts the agent {meta.get('p5_rounds')} times. "
    f"Everything but part 6 took {meta.get('elapsed_s', '?')} s, everything {meta.get('total_s', '?')} s."
)
w("")
w(
    "Every warm open under a listener is a round trip between two processes (the opener blocks until the listener "
    "answers), so its absolute cost depends on how fast an idle CPU wakes up, which on a VM depends on the cpuidle "
    "driver and on recent load (haltpoll adapts its polling window): the same run may be several times faster or "
    "slower on another day. Ratios between conditions measured in the same run, interleaved, are the stable figures."
)
w("")
try:
    load = max(float(meta.get("load_start", "0").split()[0]), float(meta.get("load_end", "0").split()[0]))
except ValueError:
    load = 0.0
w(f"Load average (1, 5, 15 min) at the start: {meta.get('load_start', '?')}; at the end: {meta.get('load_end', '?')}.")
if load > 1.0:
    w(
        f"**The machine was not idle** (load up to {load:.1f} on {meta.get('cores', '?')} cores): other processes competed "
        "for the CPUs, which widens the spread between rounds and lowers parallel scaling (part 3). Interleaving spreads "
        "that noise over every condition, but absolute numbers are pessimistic; rerun on a quiet machine for reference figures."
    )
w("")

targets = []  # (name, measured, goal, ok)

# ---------------------------------------------------------------- parts 1-2
p12 = read_tsv("p12.tsv")
LISTENERS = [
    ("none", "no agent"),
    ("minimal", "minimal allow-all listener (`bench/src/minlisten.c`)"),
    ("fapolicyd", f"fapolicyd {meta.get('fapolicyd', '')} (permissive, integrity = sha256, trusted)"),
    ("sigward", "sigward"),
]


def p12_values(listener, op, file):
    return [float(r["median_ns"]) for r in p12 if r["listener"] == listener and r["op"] == op and r["file"] == file]


def p12_med(listener, op, file):
    return med(p12_values(listener, op, file))


sw_ev = read_tsv("p12_sigward.tsv")
ops_per_run = {
    "open": int(meta.get("ops", 0) or 0),
    "exec": int(meta.get("exec_ops", 0) or 0),
}


def events_per_op(op, file):
    """Median over rounds of (events, cache hits, kernel marks) seen by sigward per timed run."""
    rows = [r for r in sw_ev if r["op"] == op and r["file"] == file]
    if not rows:
        return None
    km = [int(r.get("kernel_marks") or -1) for r in rows]
    return med([int(r["events"]) for r in rows]), med([int(r["cache_hits"]) for r in rows]), max(km)


def ro_path_kind(op):
    """How sigward answered the root-owned read-only file: 'kernel' or 'userspace'."""
    e = events_per_op(op, "ro")
    if not e:
        return None
    calls = ops_per_run[op] + (2000 if op == "open" else 20)
    return "kernel" if e[0] < 0.01 * calls else "userspace"


def p12_table(op, unit, title):
    w(f"## {title}")
    w("")
    if not p12:
        w("Not run.")
        w("")
        return
    what = "open+close" if op == "open" else "posix_spawn + waitpid"
    w(
        f"Per-operation time of `{what}`: median over rounds of each round's median over batches. "
        "The range is the lowest and highest round. Ratios divide medians measured on the same file; "
        "*+ vs no agent* is the added cost per operation."
    )
    w("")
    w("| condition | file | median | rounds (min – max) | + vs no agent | × no agent | × minimal | × fapolicyd |")
    w("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |")
    files = {"ro": "root-owned read-only", "rw": "group-writable"}
    rows = []
    for lis, label in LISTENERS:
        for f in ("ro", "rw"):
            vals = p12_values(lis, op, f)
            if not vals:
                continue
            if lis == "sigward":
                lab = "sigward, root-owned read-only plugin" if f == "ro" else "sigward, group-writable plugin (userspace cache path)"
            else:
                lab = label
            rows.append((lis, lab, f, vals))
    for lis, lab, f, vals in rows:
        m = med(vals)
        base = p12_med("none", op, f)
        mini = p12_med("minimal", op, f)
        fapo = p12_med("fapolicyd", op, f)
        add = None if base is None else m - base
        w(
            f"| {lab} | {files[f]} | {fmt_ns(m, unit)} | {fmt_ns(min(vals), unit)} – {fmt_ns(max(vals), unit)} | "
            f"{fmt_ns(add, unit) if lis != 'none' else ''} | "
            f"{fmt_ratio(ratio(m, base)) if lis != 'none' else ''} | "
            f"{fmt_ratio(ratio(m, mini)) if lis not in ('none', 'minimal') else ''} | "
            f"{fmt_ratio(ratio(m, fapo)) if lis == 'sigward' else ''} |"
        )
    w("")
    # how the agent answered
    notes = []
    for f in ("ro", "rw"):
        e = events_per_op(op, f)
        if e:
            n = ops_per_run[op] + (2000 if op == "open" else 20)
            how = (
                "answered by the kernel (ignore mark), not by the agent"
                if e[0] < 0.01 * n
                else f"{e[1]:.0f} answered from the agent's verdict cache"
            )
            notes.append(f"{files[f]}: {e[0]:.0f} permission events reached sigward for {n} calls ({e[0] / n:.3f} per call; {how})")
    if notes:
        km = max((events_per_op(op, f) or (0, 0, -1))[2] for f in ("ro", "rw"))
        tail = f" Kernel ignore marks held by the agent: {km}." if km >= 0 else ""
        w("sigward's own counters (`sigward status --json`, median over rounds): " + "; ".join(notes) + "." + tail)
        w("")


p12_table("open", "us", "Part 1: warm open+close of a signed plugin")
mins = read_tsv("p12_minimal.tsv")
if mins:
    w(
        "The minimal listener answered "
        + ", ".join(r["answered"] for r in mins)
        + " permission events in its rounds (every open and exec of parts 1 and 2, warm-ups included)."
    )
    w("")
states = sorted(glob.glob(path("fapolicyd-state-r*.txt")))
if states:
    st = read_text(os.path.basename(states[-1]))
    keep = [l for l in st.splitlines() if re.match(r"^(Allowed|Denied|Object|Subject) ", l)]
    w(
        "fapolicyd's own statistics at the end of its last round (SIGUSR1 state report): its caches are warm, "
        "the timed opens are object-cache hits:"
    )
    w("")
    w("```text")
    w("\n".join(keep))
    w("```")
    w("")

p12_table("exec", "us", "Part 2: execve of a signed static ELF")

ro_open = ratio(p12_med("sigward", "open", "ro"), p12_med("none", "open", "ro"))
targets.append(("root-owned read-only plugin, warm open", f"{fmt_ratio(ro_open)} no agent", "≤ 1.5× no agent", None if ro_open is None else ro_open <= 1.5))
for op, lab in (("open", "warm open"), ("exec", "exec")):
    rw = p12_med("sigward", op, "rw")
    rf = ratio(rw, p12_med("fapolicyd", op, "rw"))
    rm = ratio(rw, p12_med("minimal", op, "rw"))
    targets.append((f"group-writable plugin, {lab} vs fapolicyd", f"{fmt_ratio(rf)} fapolicyd", "≤ 1.0× fapolicyd", None if rf is None else rf <= 1.0))
    targets.append((f"group-writable plugin, {lab} vs minimal listener", f"{fmt_ratio(rm)} minimal", "≤ 1.2× minimal", None if rm is None else rm <= 1.2))
ro_exec = ratio(p12_med("sigward", "exec", "ro"), p12_med("none", "exec", "ro"))
targets.append(("root-owned read-only ELF, exec (informational)", f"{fmt_ratio(ro_exec)} no agent", "≤ 1.5× no agent", None if ro_exec is None else ro_exec <= 1.5))

# ---------------------------------------------------------------- part 3
p3 = read_tsv("p3.tsv")
w("## Part 3: cold verification of 1 GiB signed files")
w("")
if not p3:
    w("Not run.")
    w("")
else:
    w(
        "sigward: `open()` of a signed 1 GiB file whose cached verdict was made stale with `utimensat` "
        "(ctime changes, content and signature do not); `open()` returns once the agent has read the whole file, "
        "hashed it and verified the signature. openssl: `openssl dgst -sha256` of the same file "
        "(whose open is then a sigward cache hit). Both read from the page cache (files warmed first). "
        "Two files: both opens released together (two threads); for openssl, two processes. "
        "Throughput = bytes / wall time, median over rounds."
    )
    w("")
    w("| what | median wall time | throughput | rounds (MiB/s) | vs openssl, one file | files verified by sigward per round |")
    w("| --- | ---: | ---: | --- | ---: | --- |")
    labels = {
        "sigward1": "sigward, one 1 GiB file",
        "sigward2": "sigward, two 1 GiB files at once",
        "openssl1": "openssl dgst -sha256, one file",
        "openssl2": "openssl dgst -sha256, two files at once (2 processes)",
    }
    thr = {}
    for k in ("sigward1", "sigward2", "openssl1", "openssl2"):
        rows = [r for r in p3 if r["what"] == k]
        if not rows:
            continue
        rates = [int(r["bytes"]) / (int(r["ns"]) / 1e9) / 1048576 for r in rows]
        t = med([int(r["ns"]) for r in rows])
        thr[k] = med(rates)
        thr_str = f"{thr[k]:.0f} MiB/s"
        misses = ", ".join(r.get("agent_misses") or "" for r in rows) if k.startswith("sigward") else ""
        if k.startswith("sigward") and any(int(r.get("agent_misses") or 0) < int(r["files"]) for r in rows):
            misses += " (**not every open was verified: invalid**)"
        w(
            f"| {labels[k]} | {fmt_ns(t, 'ms')} | {thr_str} | {min(rates):.0f} – {max(rates):.0f} | "
            f"{fmt_ratio(ratio(thr[k], thr.get('openssl1'))) if k != 'openssl1' and 'openssl1' in thr else ''} | {misses} |"
        )
    w("")
    r1 = ratio(thr.get("sigward1"), thr.get("openssl1"))
    r2 = ratio(thr.get("sigward2"), thr.get("sigward1"))
    ro2 = ratio(thr.get("openssl2"), thr.get("openssl1"))
    w(
        f"sigward reaches {fmt_ratio(r1)} of openssl's single-file SHA-256 throughput; two files at once give "
        f"{fmt_ratio(r2)} its one-file throughput (openssl, two processes: {fmt_ratio(ro2)})."
    )
    w("")
    targets.append(("cold: throughput vs openssl dgst -sha256", f"{'n/a' if r1 is None else f'{r1 * 100:.0f}%'}", "≥ 90%", None if r1 is None else r1 >= 0.9))
    targets.append(("cold: two files at once vs one (throughput)", fmt_ratio(r2), "≥ 1.6×", None if r2 is None else r2 >= 1.6))

# ---------------------------------------------------------------- part 4
p4 = read_tsv("p4.tsv")
w("## Part 4: cached opens while a 2 GiB file is verified")
w("")
if not p4:
    w("Not run.")
    w("")
else:
    w(
        "Each round: the 2 GiB signed file is touched (stale verdict) and opened in a background thread, which blocks "
        "until sigward has verified it; 20 ms later the driver times individual `open`+`close` calls of a cached signed "
        "file in another directory of the tree, each with `clock_gettime`, for as long as the large open is pending "
        "(up to the sample count). *pending* = the large open was still blocked when the last sample was taken."
    )
    w("")
    w("| round | samples | pending | p50 | p90 | p99 | p99.9 | max | sampled (ms after the 2 GiB open began) | 2 GiB open took |")
    w("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    for r in p4:
        w(
            f"| {r['round']} | {r['samples']} | {'yes' if r['pending_all'] == '1' else '**no**'} | "
            f"{fmt_ns(float(r['p50_ns']))} | {fmt_ns(float(r['p90_ns']))} | {fmt_ns(float(r['p99_ns']))} | "
            f"{fmt_ns(float(r['p999_ns']))} | {fmt_ns(float(r['max_ns']))} | "
            f"{int(r['sample_start_ns']) / 1e6:.0f} – {int(r['sample_end_ns']) / 1e6:.0f} | {fmt_ns(float(r['huge_open_ns']), 'ms')} |"
        )
    p50 = med([float(r["p50_ns"]) for r in p4])
    p99 = med([float(r["p99_ns"]) for r in p4])
    mx = max(float(r["max_ns"]) for r in p4)
    allp = all(r["pending_all"] == "1" for r in p4)
    w(f"| **median** | | {'all' if allp else 'not all'} | **{fmt_ns(p50)}** | | **{fmt_ns(p99)}** | | {fmt_ns(mx)} (worst) | | |")
    w("")
    targets.append(("cached open p99 while a 2 GiB file verifies", f"{fmt_ns(p99)} (median of rounds; worst round {fmt_ns(max(float(r['p99_ns']) for r in p4))})", "< 1 ms", p99 < 1e6))

# ---------------------------------------------------------------- part 5
p5 = read_tsv("p5.tsv")
fill = read_kv("p5_fill.tsv")
w("## Part 5: 100,000 signed files in 10,000 directories")
w("")
if not p5:
    w("Not run.")
    w("")
else:
    w(
        "Start-up: from `exec` of `sigward run` to the `READY=1` datagram on `$NOTIFY_SOCKET` (sent once every mark is in place). "
        "Marks: `fanotify ino:` lines in `/proc/PID/fdinfo` of the agent's permission group (and its directory-notification group). "
        "The first start follows `echo 2 > /proc/sys/vm/drop_caches` (dentries and inodes dropped, as after a reboot) when allowed."
    )
    w("")
    w("| start | dentry cache | ready after | permission marks | notification marks | directories marked (status) | VmRSS after READY | VmHWM |")
    w("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in p5:
        w(
            f"| {r['round']} | {r['kind']} | {fmt_ns(float(r['startup_ns']), 'ms')} | {r['perm_marks']} | {r['notify_marks']} | "
            f"{r['dirs_marked']} | {int(r['rss_kib']) / 1024:.1f} MiB | {int(r['hwm_kib']) / 1024:.1f} MiB |"
        )
    warm = [float(r["startup_ns"]) for r in p5 if r["kind"] == "warm"]
    cold = [float(r["startup_ns"]) for r in p5 if r["kind"] == "cold"]
    rss_ready = med([int(r["rss_kib"]) for r in p5])
    w("")
    if fill:
        opened = int(fill.get("opened", 0))
        wall = int(fill.get("wall_ns", 1))
        w(
            f"Then all {opened:,} files were opened (4 threads; every open a cache miss, verified by the agent) in "
            f"{wall / 1e9:.1f} s ({opened / (wall / 1e9):,.0f} verifications/s): the cache then held "
            f"**{int(fill.get('cache_entries', 0)):,} verdicts** (`sigward status --json`: {int(fill.get('cache_misses', 0)):,} misses, "
            f"{int(fill.get('events', 0)):,} events), and the agent's VmRSS was **{int(fill['rss_kib']) / 1024:.1f} MiB** "
            f"(VmHWM {int(fill['hwm_kib']) / 1024:.1f} MiB)."
        )
        if fill.get("kernel_marks") not in (None, "", "-1"):
            w("")
            w(
                f"After the fill sigward reported {int(fill['kernel_marks']):,} kernel ignore marks (these files are root-owned "
                f"and read-only, so their later opens are answered by the kernel); the fdinfo of its permission group listed "
                f"{int(fill.get('perm_marks', 0)):,} directory marks and {int(fill.get('ignore_marks') or 0):,} ignore-only marks."
            )
        w("")
    perm_ok = all(int(r["perm_marks"]) >= 10001 for r in p5)
    if warm:
        mw = med(warm)
        targets.append(("100,000 files: marks in place (warm dentry cache, median)", f"{fmt_ns(mw, 'ms')}, {p5[-1]['perm_marks']} marks", "≤ 2 s", mw <= 2e9 and perm_ok))
    if cold:
        targets.append(("100,000 files: marks in place (cold dentry cache)", fmt_ns(cold[0], "ms"), "≤ 2 s", cold[0] <= 2e9 and perm_ok))
    targets.append(("100,000 files: RSS after READY", f"{rss_ready / 1024:.1f} MiB", "< 64 MiB", rss_ready < 65536))
    if fill:
        entries = int(fill.get("cache_entries", 0))
        targets.append(
            (
                "100,000 cached verdicts: RSS",
                f"{int(fill['rss_kib']) / 1024:.1f} MiB with {entries:,} verdicts",
                "< 64 MiB",
                int(fill["rss_kib"]) < 65536 and entries >= 100000,
            )
        )

# ---------------------------------------------------------------- part 7
p7 = read_tsv("p7.tsv")
w("## Part 7: 64 huge files opened at once (denial of service by writers)")
w("")
if not p7:
    w("Not run.")
    w("")
else:
    def p7_vals(what):
        return [float(r["value_ns"]) for r in p7 if r["what"] == what]

    rounds = sorted({int(r["round"]) for r in p7})
    w(
        "64 sparse files of 100 GiB each in `plugins/dos/`, under a policy accepting native and raw RSA signatures. "
        "Each round starts the agent, then: opens the 64 *unsigned* ones at once (one thread each) and the 64 with a "
        "native signature made for 6 bytes (*size mismatch*), timing until the last refusal; opens the 64 whose `.sig` "
        "is 256 random bytes (a possible RSA signature, which only the content's SHA-256 refutes, so they are hashed) "
        "in the background and, 0.3 s later, times 20 cold opens of a small signed file (`opentime --touch`); kills "
        "those openers and reads the agent's CPU time over the next 2 s (after 0.5 s); opens the 64 again and sends "
        "SIGTERM, timing until the agent has exited."
    )
    w("")
    w("| round | 64 unsigned refused | 64 size mismatch refused | small cold open p50 | small cold open max | agent CPU while hashing | agent CPU 2 s after the kill | SIGTERM to exit |")
    w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for rd in rounds:
        rows = {}
        for r in p7:
            if int(r["round"]) == rd:
                rows.setdefault(r["what"], []).append(float(r["value_ns"]))
        small = rows.get("small_cold", [])
        w(
            f"| {rd} | {fmt_ns(med(rows.get('refuse_unsigned', [])), 'ms')} | {fmt_ns(med(rows.get('refuse_mismatch', [])), 'ms')} | "
            f"{fmt_ns(med(small), 'ms')} | {fmt_ns(max(small) if small else None, 'ms')} | "
            f"{med(rows.get('cpu_while_hashing_ms', [])):.0f} ms | {med(rows.get('cpu_2s_after_kill_ms', [])):.0f} ms | "
            f"{fmt_ns(med(rows.get('sigterm', [])), 'ms')} |"
        )
    small = p7_vals("small_cold")
    small_max = max(small) if small else None
    term = p7_vals("sigterm")
    after = p7_vals("cpu_2s_after_kill_ms")
    refused = p7_vals("refuse_unsigned") + p7_vals("refuse_mismatch")
    w(
        f"| **all** | {fmt_ns(med(p7_vals('refuse_unsigned')), 'ms')} | {fmt_ns(med(p7_vals('refuse_mismatch')), 'ms')} | "
        f"**{fmt_ns(med(small), 'ms')}** | **{fmt_ns(small_max, 'ms')}** | | {max(after):.0f} ms (worst) | **{fmt_ns(max(term), 'ms')}** (worst) |"
    )
    w("")
    targets.append(("64 huge unsigned / size-mismatched files refused (all at once)", f"{fmt_ns(max(refused), 'ms')} (worst round)", "< 1 s", max(refused) < 1e9))
    targets.append(("cold open of a small signed file while 64 huge files are hashed", f"{fmt_ns(small_max, 'ms')} (worst of {len(small)})", "< 100 ms", small_max is not None and small_max < 1e8))
    targets.append(("agent CPU in the 2 s after the huge files' openers were killed", f"{max(after):.0f} ms (worst round)", "< 100 ms", max(after) < 100))
    targets.append(("SIGTERM to exit with 64 huge files pending", f"{fmt_ns(max(term), 'ms')} (worst round)", "< 2 s", max(term) < 2e9))

# ---------------------------------------------------------------- part 8
p8 = read_tsv("p8.tsv")
w("## Part 8: opens outside the trees, on a tree's filesystem")
w("")
if not p8:
    w("Not run.")
    w("")
else:
    def p8_per_open(state, pas):
        return [float(r["wall_ns"]) / max(1, int(r["files"])) for r in p8 if r["state"] == state and r["pass"] == pas]

    w(
        "10,000 files in 100 directories next to a tree on the benchmark filesystem, each opened and closed once "
        "per pass by one thread (`openall LIST 1`), twice per condition: *first* (the first open of each file since "
        "the agent started) and *again*. Conditions, interleaved per round: no agent; sigward with the tree a plain "
        "directory (*shared*: no filesystem mark, the window for new directories open); sigward with the tree "
        "bind-mounted onto itself (*own mount*: a filesystem mark, so every file of the filesystem raises an event "
        "until the kernel caches the answer)."
    )
    w("")
    w("| condition | first open, per file | again, per file | first / no agent | again / no agent |")
    w("| --- | ---: | ---: | ---: | ---: |")
    base_first, base_again = med(p8_per_open("none", "first")), med(p8_per_open("none", "again"))
    for state, label in (("none", "no agent"), ("shared", "sigward, tree shares the filesystem"), ("own-mount", "sigward, tree a mount of its own")):
        f, a = med(p8_per_open(state, "first")), med(p8_per_open(state, "again"))
        w(f"| {label} | {fmt_ns(f, 'us')} | {fmt_ns(a, 'us')} | {f / base_first:.2f}x | {a / base_again:.2f}x |")
    w("")

# ---------------------------------------------------------------- parts 9-10
COLDWARM = [
    ("none", "no agent"),
    ("minimal", "minimal allow-all listener, every directory of the tree marked"),
    ("fapolicyd", f"fapolicyd {meta.get('fapolicyd', '')} (permissive, integrity = sha256, every file trusted)"),
    ("sigward", "sigward (enforce, native signatures)"),
]
COLD_GOAL, WARM_GOAL = 1.3, 1.05


def fmt_s(ns):
    return "n/a" if ns is None else f"{ns / 1e9:.2f} s"


def fmt_ms(ns):
    return "n/a" if ns is None else f"{ns / 1e6:.0f} ms"


def coldwarm_section(part, title, intro, what, fmt):
    rows = read_tsv(f"p{part}.tsv")
    info = read_kv(f"p{part}_info.tsv")
    w(f"## Part {part}: {title}")
    w("")
    if not rows:
        w("Not run.")
        w("")
        return
    for para in intro(info):
        w(para)
        w("")
    if info.get("drop_caches") == "0":
        w("**The page cache could not be dropped here** (`/proc/sys/vm/drop_caches` not writable): the cold runs started with warm caches.")
        w("")

    def vals(state, pas):
        return [float(r["wall_ns"]) for r in rows if r["state"] == state and r["pass"] == pas]

    base = {p: med(vals("none", p)) for p in ("cold", "warm")}
    w(
        f"Wall time of {what}, median over rounds (lowest – highest round). *cold*: the first run after the listener "
        "is ready, with the page cache, dentries and inodes dropped just before; *warm*: a second run right after, "
        "same listener. Ratios divide by no agent's median of the same pass."
    )
    w("")
    w("| condition | cold | cold rounds | warm | warm rounds | cold × no agent | warm × no agent |")
    w("| --- | ---: | --- | ---: | --- | ---: | ---: |")
    ratios = {}
    for state, label in COLDWARM:
        c, wm = vals(state, "cold"), vals(state, "warm")
        if not c and not wm:
            continue
        rc, rw = ratio(med(c), base["cold"]), ratio(med(wm), base["warm"])
        ratios[state] = (rc, rw)
        rng = lambda xs: f"{fmt(min(xs))} – {fmt(max(xs))}" if xs else "n/a"
        w(
            f"| {label} | {fmt(med(c))} | {rng(c)} | {fmt(med(wm))} | {rng(wm)} | "
            f"{fmt_ratio(rc) if state != 'none' else ''} | {fmt_ratio(rw) if state != 'none' else ''} |"
        )
    w("")
    sw = read_tsv(f"p{part}_sigward.tsv")
    if sw:
        w(
            "sigward's counters per run (`sigward status --json` before and after it; median over rounds; "
            "latency: from the event's arrival to the answer, for events answered by a worker, as bounds of "
            "the histogram buckets holding the median, the 99th percentile and the slowest):"
        )
        w("")
        w("| run | events | allowed | denied | verifications | cache hits | cache misses | kernel ignore marks after | worker answers | mean | p50 ≤ | p99 ≤ | max ≤ |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")

        def secs(x):
            if x in (None, ""):
                return ""
            v = float(x)
            return "∞" if v == float("inf") else f"{v * 1000:g} ms"

        for pas in ("cold", "warm"):
            rs = [r for r in sw if r["pass"] == pas]
            if not rs:
                continue
            m = lambda k: med([float(r[k]) for r in rs if r.get(k) not in (None, "")])
            last = rs[-1]
            w(
                f"| {pas} | {m('events'):.0f} | {m('allowed'):.0f} | {m('denied'):.0f} | {m('verifications'):.0f} | "
                f"{m('cache_hits'):.0f} | {m('cache_misses'):.0f} | {m('kernel_marks'):.0f} | {m('latency_count'):.0f} | "
                f"{(m('latency_mean_s') or 0) * 1e6:.0f} µs | {secs(last['latency_p50_le_s'])} | "
                f"{secs(last['latency_p99_le_s'])} | {secs(last['latency_max_le_s'])} |"
            )
        w("")
        if any(int(float(r["denied"])) for r in sw):
            w("**sigward denied opens in some run: the workload did not run as without an agent (see the status files in `raw/`).**")
            w("")
    mins = read_tsv(f"p{part}_minimal.tsv")
    if mins:
        w(
            f"The minimal listener marked {mins[0]['marked']} directories and answered "
            + ", ".join(r["answered"] for r in mins)
            + " permission events in its rounds (cold and warm runs together)."
        )
        w("")
    states = sorted(glob.glob(path(f"p{part}-fapolicyd-state-r*.txt")))
    if states:
        st = read_text(os.path.basename(states[-1]))
        keep = [l for l in st.splitlines() if re.match(r"^(Allowed|Denied|Object|Subject) ", l)]
        if keep:
            w("fapolicyd's statistics after the warm run of its last round:")
            w("")
            w("```text")
            w("\n".join(keep))
            w("```")
            w("")
    rc, rw = ratios.get("sigward", (None, None))
    targets.append((f"part {part}, {title.split(':')[0].lower()}: cold", f"{fmt_ratio(rc)} no agent", f"≤ {COLD_GOAL}× no agent", None if rc is None else rc <= COLD_GOAL))
    targets.append((f"part {part}, {title.split(':')[0].lower()}: warm", f"{fmt_ratio(rw)} no agent", f"≤ {WARM_GOAL}× no agent", None if rw is None else rw <= WARM_GOAL))
    fc, fw = ratios.get("fapolicyd", (None, None))
    if fc is not None or fw is not None:
        targets.append((f"part {part}: fapolicyd beside it (informational)", f"cold {fmt_ratio(fc)}, warm {fmt_ratio(fw)} no agent", "", None))


def p9_intro(info):
    opens = read_kv("p9_opens.tsv")
    n = lambda k, d=info: f"{int(d[k]):,}" if d.get(k, "").isdigit() else "?"
    out = [
        f"Ansible {info.get('ansible', '?')} (ansible-core {info.get('ansible_core', '?')}) and ansible-core's dependencies, "
        f"installed from PyPI wheels with `pip install --target` (which compiled the `.pyc` files) on the benchmark image: "
        f"{n('files')} files ({n('pyc_files')} of them `.pyc`, {int(info.get('bytes') or 0) / 1048576:.0f} MiB) in "
        f"{n('dirs')} directories, root-owned, nothing writable but by root, each with a native signature "
        f"({n('sig_files')} `.sig` files). sigward protects the tree (enforce); fapolicyd trusts every file of it "
        f"({n('fapolicyd_trust_entries')} entries, signatures included). The workload is Ansible's own plugin loader: "
        f"`ansible-doc -l -t module` ({info.get('python', 'python3')}, the script pip wrote to `site/bin`), which lists "
        f"{n('modules_listed')} modules, reading each module file's `short_description`; no bytecode is written "
        "(`PYTHONDONTWRITEBYTECODE=1`) and its home, configuration and collections path are an empty scratch directory "
        "outside the image; the script checks that a run writes nothing into the tree.",
        f"Command: `{info.get('command', '?')}`.",
    ]
    if opens:
        out.append(
            f"One run (traced with strace, no listener) made {n('opens', opens)} successful `open`/`openat` calls, reaching "
            f"{n('tree_files', opens)} distinct files of the tree ({n('tree_module_py', opens)} module `.py` files, "
            f"{n('tree_ps1', opens)} `.ps1` modules, {n('tree_pyc', opens)} `.pyc` imported, {n('tree_py', opens)} other `.py`, "
            f"{n('tree_yaml', opens)} YAML and {n('tree_json', opens)} JSON collection metadata files, {n('tree_sig', opens)} `.sig` "
            f"files, {n('tree_other', opens)} others) and {n('tree_dirs', opens)} of its directories, and "
            f"{n('outside_paths', opens)} paths outside it (the interpreter, its standard library, locale and configuration files)."
        )
        if opens.get("tree_sig", "0") not in ("0", ""):
            out.append(
                "The `.sig` files are read by Ansible itself: its plugin lister (`ansible/plugins/list.py`) takes `x.py.sig` for a "
                "module named `x.py`, whose fully qualified name comes out empty (`namespace.collection.`), so each module "
                f"directory yields one such entry (the last `.sig` it lists), whose documentation it reads: `ansible-doc -l` "
                f"lists {n('empty_names_listed')} of them beside the real modules. The signed tree is the same in every condition."
            )
    return out


def p10_intro(info):
    return [
        f"{info.get('programs', '?')} programs in {info.get('dirs', '?')} directories of the image, root-owned 0755 and signed: "
        f"{info.get('scripts', '?')} `#!/bin/sh` scripts (`exit 0`; interpreter `{info.get('interpreter', '/bin/sh')}`, outside the tree) "
        f"and {info.get('elfs', '?')} copies of the static ELF of part 2 ({int(info.get('elf_bytes') or 0) / 1024:.0f} KiB each). "
        "`src/execlist.c` runs each once, in sequence (`posix_spawn` + `waitpid`, each must exit 0), a directory's scripts and ELFs "
        f"alternating. fapolicyd trusts every file of the tree ({info.get('fapolicyd_trust_entries', '?')} entries)."
    ]


coldwarm_section(9, "A real plugin tree: Ansible's plugin loader", p9_intro, "`ansible-doc -l -t module`", fmt_s)
coldwarm_section(10, "Exec-heavy loading: signed scripts and ELFs", p10_intro, "one pass over every program", fmt_ms)

# ---------------------------------------------------------------- part 6
w("## Part 6: criterion, verification per format")
w("")
status = read_text("criterion.status", "not run").strip()
log = read_text("criterion.log")
if status != "ok":
    w(f"`cargo bench -p sigward-policy --bench formats`: {status}.")
    if log:
        tail = "\n".join(log.strip().splitlines()[-15:])
        w("")
        w("```text")
        w(tail)
        w("```")
    w("")
else:
    results = []
    cur = None
    lines = log.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\S.*?)\s+time:\s+\[(.+)\]\s*$", line)
        if m:
            cur = m.group(1).strip()
            results.append([cur, m.group(2), None])
            continue
        m = re.match(r"^\s+time:\s+\[(.+)\]\s*$", line)
        if m and i > 0:
            name = lines[i - 1].strip()
            results.append([name, m.group(1), None])
            continue
        m = re.match(r"^\s+thrpt:\s+\[(.+)\]\s*$", line)
        if m and results and results[-1][2] is None:
            results[-1][2] = m.group(1)

    def mid(s):
        parts = s.split()
        return f"{parts[2]} {parts[3]}" if len(parts) >= 6 else s

    w("`cargo bench -p sigward-policy --bench formats` (criterion; the median of its `time: [low median high]` estimate):")
    w("")
    w("| benchmark | time (median) | [low – high] | throughput (median) |")
    w("| --- | ---: | --- | ---: |")
    for name, t, thr in results:
        p = t.split()
        rng = f"{p[0]} {p[1]} – {p[4]} {p[5]}" if len(p) >= 6 else ""
        w(f"| `{name}` | {mid(t)} | {rng} | {mid(thr) if thr else ''} |")
    if not results:
        w("| (no `time:` lines found in the output) | | | |")
    w("")

# ---------------------------------------------------------------- fapolicyd
w("## How fapolicyd was set up")
w("")
if meta.get("fapolicyd_ok") != "1":
    w(f"fapolicyd was {meta.get('fapolicyd_note', 'not run')}.")
    w("")
else:
    conf = read_text("fapolicyd.conf")
    keys = ("permissive", "uid", "gid", "integrity", "watch_fs", "trust", "allow_filesystem_mark", "obj_cache_size", "subj_cache_size")
    shown = [l for l in conf.splitlines() if l.split("=")[0].strip() in keys]
    w(
        "Debian's package, run in the foreground by the script (`fapolicyd --debug-deny --permissive` under `timeout`), with "
        "`/etc/fapolicyd` and `/var/lib/fapolicyd` backed up before and restored after. `watch_fs = ext2` makes it mark only the "
        "benchmark image (the only ext2 mount). The relevant settings of `fapolicyd.conf` (the others are Debian's defaults):"
    )
    w("")
    w("```text")
    w("\n".join(shown))
    w("```")
    w("")
    if meta.get("fapolicyd_uid_note"):
        w(f"Note: {meta['fapolicyd_uid_note']}.")
        w("")
    w("Rules (`rules.d/10-sigward-bench.rules`, compiled by `fagenrules`), and the trust entries (`trust.d/sigward-bench.trust`, path size SHA-256):")
    w("")
    w("```text")
    w(read_text("fapolicyd.rules").strip())
    w("")
    w(read_text("fapolicyd.trust").strip())
    w("```")
    w("")
    w(
        "A `--debug` run before the rounds shows that decisions come from the trust database with the SHA-256 check "
        "(`tampered.txt` has a trust entry of the right size but another digest, so `trust=0`):"
    )
    w("")
    w("```text")
    w(read_text("fapolicyd-verify.txt").strip())
    w("```")
    w("")

# ---------------------------------------------------------------- targets (placed first)
tgt = ["## Targets", "", "Benchmark targets, not assertions: a MISS does not fail the run.", "", "| target | measured | goal | result |", "| --- | --- | --- | --- |"]
for name, measured, goal, ok in targets:
    tgt.append(f"| {name} | {measured} | {goal} | {verdict(ok)} |")
if not targets:
    tgt.append("| (no part that has targets was run) | | | |")
tgt.append("")
kind = ro_path_kind("open")
if kind == "kernel":
    tgt.append(
        "The root-owned read-only plugin is answered by the kernel: sigward placed an ignore mark after the first "
        "verified open, so the timed opens raise no permission event (see part 1's counters)."
    )
elif kind == "userspace":
    tgt.append(
        "The root-owned read-only plugin took the userspace path in this build (each open is a permission event "
        "answered from sigward's verdict cache); kernel ignore marks for such files would show on this line."
    )
tgt.append("")
out.append("Raw data (one row per round and measurement) and logs: `bench/results/raw/`.")
out.append("")
idx = out.index("## Reproduce")
out[idx:idx] = tgt

print("\n".join(out))
