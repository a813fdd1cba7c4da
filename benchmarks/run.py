"""Compare qjs with its peers (quickjs, quickjs-ng, mini-racer) and print a Markdown table.

    python benchmarks/run.py                 # full run, rewrites benchmarks/RESULTS.md
    python benchmarks/run.py --quick         # fewer rounds/repetitions, no RESULTS.md
    python benchmarks/run.py --only warm_eval,compute

For every workload, each binding runs in a fresh subprocess (`worker.py`), once per round;
the bindings alternate within a round and their order rotates between rounds, so a noisy
neighbour hits every binding alike. A binding's number is the median over rounds of the
per-round median of its in-process repetitions. qjs runs with --qjs-python (default: this
interpreter, with <repo>/src on PYTHONPATH when that is what makes `import qjs` work); the
peers run from their venvs in benchmarks/.venvs/ (see setup_peers.sh).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORKER = HERE / "worker.py"
VENVS = HERE / ".venvs"
PEERS = ["quickjs", "quickjs-ng", "mini-racer"]
BINDINGS = ["qjs"] + PEERS
QUICKJS_PEERS = ["quickjs", "quickjs-ng"]

sys.path.insert(0, str(HERE))
from worker import WORKLOADS  # noqa: E402

# workload -> (unit label, goal kind, goal threshold, description of goal)
#   kind "ratio_le": qjs / best peer <= threshold (lower is better)
#   kind "abs_le":   qjs value <= threshold
#   kind "abs_ge":   qjs value >= threshold
SPEC = {
    "new_context": ("µs/op", "ratio_le", 1.0),
    "warm_eval": ("µs/op", "ratio_le", 1.0),
    "js_to_py_call": ("µs/call", "ratio_le", 0.5),
    "py_to_js_call": ("µs/call", "ratio_le", 0.6),
    "generator_step": ("µs/step", "ratio_le", 0.6),
    "objects_to_py": ("ms/10k objs", "ratio_le", 0.25),
    "compute": ("ms", "ratio_le", 0.9),
    "threads": ("speed-up ×", "abs_ge", 1.8),
    "await_py_coroutine": ("µs/await", "abs_le", 10.0),
    "idle_context_memory": ("KB/context", "abs_le", 60.0),
    "script_vs_eval": ("× of eval time", "abs_le", 1.0),
    "capture_locals_cost": ("× of capture off", "abs_le", 2.0),
    "context_rss": ("KB/context", "abs_le", 100.0),
    "compute_instr": ("instr/iteration", "ratio_le", 0.9),
    "py_to_js_instr": ("instr/call", "ratio_le", 0.6),
    "js_to_py_instr": ("instr/call", "ratio_le", 0.5),
    "import_time": ("ms", "none", None),
}
HIGHER_IS_BETTER = {"threads"}
# callgrind counts are deterministic: one round is enough
ONE_ROUND = {"compute_instr", "py_to_js_instr", "js_to_py_instr"}
NOTES = HERE / "NOTES.md"  # hand-written analysis, appended to RESULTS.md when present


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def last_json_line(text: str):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def short_error(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].strip()[:300] if lines else "no output"


# ------------------------------------------------------------------ interpreters ---


def find_qjs(qjs_python: str):
    """Return (argv0, env, None) if `import qjs; qjs.Context().eval('1')` works, else
    (argv0, env, reason)."""
    probe = "import qjs; qjs.Context().eval('1')"
    base_env = dict(os.environ)
    src = str(REPO / "src")
    attempts = []
    with_src = dict(base_env)
    with_src["PYTHONPATH"] = src + (os.pathsep + base_env["PYTHONPATH"] if base_env.get("PYTHONPATH") else "")
    attempts.append(with_src)
    attempts.append(base_env)
    reasons = []
    for label, env in zip(("with src/ on PYTHONPATH", "as installed"), attempts):
        try:
            p = subprocess.run([qjs_python, "-c", probe], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            reasons.append(f"{label}: {type(e).__name__}: {e}")
            continue
        if p.returncode == 0:
            return qjs_python, env, None
        reasons.append(f"{label}: {short_error(p.stderr)}")
    return qjs_python, base_env, "; ".join(reasons)


def interpreters(qjs_python: str, wanted):
    """binding -> (python, env, unavailable_reason)."""
    out = {}
    if "qjs" in wanted:
        out["qjs"] = find_qjs(qjs_python)
    for peer in PEERS:
        if peer not in wanted:
            continue
        py = VENVS / peer / "bin" / "python"
        if py.exists():
            out[peer] = (str(py), dict(os.environ), None)
        else:
            out[peer] = (str(py), dict(os.environ), "venv missing: run benchmarks/setup_peers.sh")
    return out


def run_worker(python, env, binding, workload, reps, timeout):
    cmd = [python, str(WORKER), "--binding", binding, "--workload", workload, "--reps", str(reps)]
    try:
        p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"na": f"timed out after {timeout}s"}
    res = last_json_line(p.stdout)
    if res is None:
        # a crash (segfault, abort) or an unparsable output
        sig = f" (exit {p.returncode})"
        return {"na": "worker crashed" + sig + ": " + short_error(p.stderr or p.stdout)}
    return res


def binding_version(python, env, binding):
    try:
        p = subprocess.run([python, str(WORKER), "--binding", binding, "--workload", "compute",
                            "--version-only"], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    res = last_json_line(p.stdout)
    return res.get("version") if res else None


# ------------------------------------------------------------------------ maths ---


def fmt(x) -> str:
    if x is None:
        return "n/a"
    ax = abs(x)
    if ax == 0:
        return "0"
    if ax >= 100:
        return f"{x:,.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def fmt_ratio(r: float) -> str:
    return f"{r:.2f}" if r >= 0.1 else f"{r:.2g}"


def aggregate(rounds):
    """rounds: list of worker results for one binding+workload -> summary dict."""
    ok = [r for r in rounds if "na" not in r]
    if not ok:
        out = {"na": rounds[0].get("na", "?") if rounds else "not run"}
        tb = next((r["traceback"] for r in rounds if r.get("traceback")), None)
        if tb:
            out["traceback"] = tb
        return out
    primary = ok[0]["primary"]
    metrics = {}
    for name in ok[0]["metrics"]:
        per_round = [statistics.median(r["metrics"][name]) for r in ok if r["metrics"].get(name)]
        if not per_round:
            continue
        med = statistics.median(per_round)
        spread = (max(per_round) - min(per_round)) / med if med else 0.0
        metrics[name] = {"median": med, "rounds": per_round, "spread": spread}
    out = {"primary": primary, "metrics": metrics, "info": ok[0].get("info", {}),
           "rounds_ok": len(ok), "rounds_failed": len(rounds) - len(ok)}
    if len(ok) < len(rounds):
        out["failures"] = sorted({r["na"] for r in rounds if "na" in r})
        tb = next((r["traceback"] for r in rounds if r.get("traceback")), None)
        if tb:
            out["traceback"] = tb
    return out


def value(summary, metric=None):
    if not summary or "na" in summary:
        return None
    m = summary["metrics"].get(metric or summary["primary"])
    return m["median"] if m else None


def compare(workload, results):
    """-> (qjs value shown, {peer: value}, ratio, goal text, status)."""
    kind, thr = SPEC[workload][1], SPEC[workload][2]
    if workload == "idle_context_memory":
        q_cmp = value(results.get("qjs"), "rss_kb")
        q_goal = value(results.get("qjs"), "engine_kb")
        peers = {p: value(results.get(p), "rss_kb") for p in PEERS}
    else:
        q_cmp = q_goal = value(results.get("qjs"))
        peers = {p: value(results.get(p)) for p in PEERS}
    have = [v for v in peers.values() if v is not None]
    best = None
    if have:
        best = max(have) if workload in HIGHER_IS_BETTER else min(have)
    ratio = q_cmp / best if (q_cmp is not None and best) else None
    qj = [peers[p] for p in QUICKJS_PEERS if peers.get(p) is not None]
    qbest = (max(qj) if workload in HIGHER_IS_BETTER else min(qj)) if qj else None
    qratio = q_cmp / qbest if (q_cmp is not None and qbest) else None
    if kind == "ratio_le":
        goal = f"ratio ≤ {thr:g}"
        status = None if ratio is None else ratio <= thr
    elif kind == "none":
        goal = "(none)"
        status = None
    elif kind == "abs_le":
        what = "engine-side " if workload == "idle_context_memory" else ""
        goal = f"qjs {what}≤ {thr:g} {SPEC[workload][0].split('/')[0]}"
        status = None if q_goal is None else q_goal <= thr
    else:
        goal = f"qjs speed-up ≥ {thr:g}"
        status = None if q_goal is None else q_goal >= thr
    return q_cmp, peers, ratio, qratio, goal, status


def cell(summary, workload):
    if summary is None:
        return "—"
    if "na" in summary:
        return f"n/a ({summary['na']})"
    if workload == "idle_context_memory":
        parts = []
        eng = value(summary, "engine_kb")
        if eng is not None:
            parts.append(f"{fmt(eng)} engine")
        rss = value(summary, "rss_kb")
        if rss is not None:
            parts.append(f"{fmt(rss)} RSS")
        return " / ".join(parts) or "n/a"
    txt = fmt(value(summary))
    if workload == "threads" and value(summary, "process_speedup") is not None:
        txt += f" (2 procs: {fmt(value(summary, 'process_speedup'))})"
    if summary.get("rounds_failed"):
        txt += f" ({summary['rounds_failed']} round(s) failed)"
    return txt


def table(results, workloads, bindings) -> str:
    head = ["workload", "unit"] + bindings + ["qjs / best peer", "goal", "met", "qjs / best QuickJS peer"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for w in workloads:
        res = results.get(w, {})
        _, _, ratio, qratio, goal, status = compare(w, res)
        row = [f"`{w}`", SPEC[w][0]] + [cell(res.get(b), w) for b in bindings]
        row.append("n/a" if ratio is None else fmt_ratio(ratio))
        row.append(goal)
        row.append({True: "yes", False: "**no**", None: "–"}[status])
        row.append("n/a" if qratio is None else fmt_ratio(qratio))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def details(results, workloads, bindings) -> str:
    out = []
    for w in workloads:
        for b in bindings:
            s = results.get(w, {}).get(b)
            if not s:
                continue
            if "na" in s:
                if s.get("traceback"):
                    last = s["traceback"].strip().splitlines()[-1]
                    out.append(f"- `{w}` / {b}: n/a — `{last}`")
                continue
            ms = ", ".join(
                f"{k}={fmt(v['median'])} (spread {v['spread'] * 100:.0f}%)"
                for k, v in s["metrics"].items()
            )
            info = ", ".join(f"{k}={v}" for k, v in s["info"].items())
            fail = f"; failed rounds: {s['failures']}" if s.get("failures") else ""
            out.append(f"- `{w}` / {b}: {ms}; {info}{fail}")
    return "\n".join(out)


# ------------------------------------------------------------------- machine ---


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def python_version(python, env) -> str:
    try:
        p = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                           env=env, capture_output=True, text=True, timeout=60)
        return p.stdout.strip() or "?"
    except OSError:
        return "?"


# ---------------------------------------------------------------------- main ---


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="qjs vs peers benchmark driver")
    ap.add_argument("--quick", action="store_true", help="2 rounds x 1 repetition; does not write RESULTS.md")
    ap.add_argument("--only", default="", help="comma-separated workload names")
    ap.add_argument("--bindings", default=",".join(BINDINGS), help="comma-separated subset of " + ",".join(BINDINGS))
    ap.add_argument("--rounds", type=int, default=None, help="fresh-subprocess rounds per binding (default 5)")
    ap.add_argument("--reps", type=int, default=None, help="timed in-process repetitions (default 3)")
    ap.add_argument("--qjs-python", default=sys.executable, help="interpreter that can import qjs")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per worker subprocess")
    ap.add_argument("--write", dest="write", action="store_true", default=None,
                    help="write RESULTS.md/results.json even for --quick/--only runs")
    ap.add_argument("--no-write", dest="write", action="store_false")
    ap.add_argument("--render", metavar="JSON", help="only re-render a saved results.json (and RESULTS.md with --write)")
    args = ap.parse_args(argv)

    if args.render:
        saved = json.loads(Path(args.render).read_text())
        ws = [w for w in WORKLOADS if w in saved["results"]]
        md = table(saved["results"], ws, BINDINGS)
        print(md)
        if args.write:
            write_results_md(saved["meta"], md, details(saved["results"], ws, BINDINGS))
        return 0

    workloads = [w.strip() for w in args.only.split(",") if w.strip()] or list(WORKLOADS)
    for w in workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
    bindings = [b.strip() for b in args.bindings.split(",") if b.strip()]
    for b in bindings:
        if b not in BINDINGS:
            ap.error(f"unknown binding {b!r}")
    rounds = args.rounds or (2 if args.quick else 5)
    reps = args.reps or (1 if args.quick else 3)
    write = args.write if args.write is not None else (not args.quick and not args.only)

    interp = interpreters(args.qjs_python, bindings)
    versions, pyvers = {}, {}
    for b, (py, env, why) in interp.items():
        if why:
            log(f"[{b}] unavailable: {why}")
            versions[b] = None
            continue
        versions[b] = binding_version(py, env, b)
        pyvers[b] = python_version(py, env)
        log(f"[{b}] {versions[b]} (Python {pyvers[b]}: {py})")

    started = time.time()
    load_before = loadavg()
    try:
        if float(load_before.split()[0]) > 1.0:
            log(f"warning: load average {load_before} before the run: other processes compete "
                "for the CPUs; timings (threads especially) will be noisy")
    except ValueError:
        pass
    results = {}
    for w in workloads:
        per = {b: [] for b in bindings}
        settled = {}  # binding -> result reused for later rounds (no such API / not importable)
        w_rounds = 1 if w in ONE_ROUND else rounds
        for r in range(w_rounds):
            order = bindings[r % len(bindings):] + bindings[: r % len(bindings)]
            for b in order:
                if b in settled:
                    per[b].append(settled[b])
                    continue
                py, env, why = interp[b]
                if why:
                    settled[b] = {"na": "not importable, see above" if b == "qjs" else why}
                    per[b].append(settled[b])
                    continue
                t0 = time.time()
                res = run_worker(py, env, b, w, reps, args.timeout)
                per[b].append(res)
                shown = res.get("na") or fmt(statistics.median(res["metrics"][res["primary"]]))
                log(f"  {w:20s} round {r + 1}/{w_rounds} {b:11s} {shown}  [{time.time() - t0:.1f}s]")
                if "na" in res and b != "qjs" and "traceback" not in res and "crash" not in res["na"] \
                        and "timed out" not in res["na"]:
                    settled[b] = res  # a peer without the API: no point repeating it
        results[w] = {b: aggregate(v) for b, v in per.items()}

    md = table(results, workloads, bindings)
    print(md)

    elapsed = time.time() - started
    meta = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": pyvers,
        "versions": versions,
        "rounds": rounds,
        "reps": reps,
        "elapsed_s": round(elapsed),
        "qjs_unavailable": interp.get("qjs", (None, None, None))[2],
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
    }
    if write:
        (HERE / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
        write_results_md(meta, md, details(results, workloads, bindings))
        log(f"wrote {HERE / 'RESULTS.md'} and results.json")
    return 0


def write_results_md(meta, md, det):
    v = meta["versions"]
    peer_versions = ", ".join(f"{p} {v.get(p) or 'n/a'}" for p in PEERS)
    pys = sorted(set(meta["python"].values()))
    qjs_line = (f"qjs {v.get('qjs')}" if v.get("qjs")
                else f"qjs not importable ({meta['qjs_unavailable']})")
    text = f"""# Benchmark results

Latest full run of `python benchmarks/run.py` ({meta['rounds']} rounds × {meta['reps']} repetitions,
each round a fresh subprocess per binding, bindings interleaved; medians).

- Date: {meta['date']}
- CPU: {meta['cpu']}, {meta['cores']} cores (shared, noisy machine: treat differences under ~15% as noise)
- Python: {', '.join(pys)}
- Bindings: {qjs_line}; {peer_versions}
- Run time: {meta['elapsed_s']} s; load average (1/5/15 min) before: {meta['loadavg_before']}, after: {meta['loadavg_after']}

{md}

"qjs / best peer" compares with the best peer that has a number (lowest time; highest
speed-up for `threads`; lowest RSS per context for `idle_context_memory`, whose goal is on
qjs's engine-side `malloc_size` per context); "met" judges the goal on it. "qjs / best
QuickJS peer" leaves out mini-racer (V8, a JIT: `compute` against it measures JIT vs
interpreter, not the binding). For `threads`, "(2 procs: x)" is the speed-up of the same
work in 2 processes at the same moment: the parallelism the machine actually offered (about 2
on an idle 2-core machine; near 1 when other jobs occupy the cores, and then no thread
speed-up can show). "n/a" cells say why a binding has no number.
See README.md for what each workload measures and how each peer is driven.

## Details (median over rounds, spread = (max − min) / median of the round medians)

{det}
"""
    if NOTES.exists():
        text += "\n" + NOTES.read_text()
    (HERE / "RESULTS.md").write_text(text)


if __name__ == "__main__":
    sys.exit(main())
