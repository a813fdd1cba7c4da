"""Runtimes used from several Python threads."""

import functools
import threading

import pytest

import qjs

LOOP = "let n = 0; for (let i = 0; i < 2000000; i++) n = (n + i) % 1000003; n"


@functools.lru_cache(maxsize=None)
def expected_loop():
    n = 0
    for i in range(2000000):
        n = (n + i) % 1000003
    return n


def run_threads(targets, timeout=60):
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    assert not errors, errors


def test_separate_contexts_in_parallel():
    results = {}

    def worker(key):
        def run():
            with qjs.Context(timeout=30) as ctx:
                results[key] = ctx.eval(LOOP)

        return run

    run_threads([worker("a"), worker("b")])
    want = expected_loop()
    assert results == {"a": want, "b": want}


def test_shared_context_many_threads():
    with qjs.Context(timeout=30) as ctx:
        ctx.globals["hostMul"] = lambda a, b: a * b
        ctx.eval("globalThis.counter = 0")
        results = {}

        def worker(tid):
            def run():
                out = []
                for i in range(100):
                    if i % 3 == 0:
                        out.append(ctx.eval(f"hostMul({tid}, {i})"))
                    else:
                        out.append(ctx.eval(f"counter++; {tid} + {i}"))
                results[tid] = out

            return run

        run_threads([worker(t) for t in range(1, 7)])
        for tid in range(1, 7):
            assert results[tid] == [tid * i if i % 3 == 0 else tid + i for i in range(100)]
        n_plain = sum(1 for i in range(100) if i % 3) * 6
        assert ctx.eval("counter") == n_plain


def test_shared_context_handles_across_threads():
    with qjs.Context(timeout=30) as ctx:
        with ctx.eval_handle("({items: [], push(x) { this.items.push(x); return this.items.length }})") as h:

            def worker(tid):
                def run():
                    for i in range(50):
                        h.call_method("push", tid * 1000 + i)

                return run

            run_threads([worker(t) for t in range(4)])
            items = h["items"]
        assert len(items) == 200
        assert sorted(items) == sorted(t * 1000 + i for t in range(4) for i in range(50))


def test_gil_released_while_js_runs():
    with qjs.Context(timeout=30) as ctx:
        started = threading.Event()
        ctx.globals["started"] = started.set
        done = {}

        def run():
            done["r"] = ctx.eval("started(); const t0 = Date.now(); while (Date.now() - t0 < 400) {}; 'done'")

        t = threading.Thread(target=run)
        t.start()
        assert started.wait(10)
        spins = 0
        while t.is_alive():
            spins += 1
        t.join()
        assert done["r"] == "done"
        # with the GIL held by the JS thread this loop could barely run at all
        assert spins > 1000


def _python_hook(filename, line):
    pass


@pytest.mark.parametrize("kind", ["line hook", "builtin line hook", "host function",
                                  "builtin host function"])
def test_python_called_often_from_js_does_not_starve_other_threads(kind):
    # JS that calls Python at every step needs the GIL at every step: dropping it
    # between calls only to take it back at once would keep a waiting thread out
    # for the whole run (each drop resets that thread's wait)
    done = []

    def work():
        with qjs.Context(timeout=60) as c:
            calls = {}
            if kind == "line hook":
                c.runtime.set_line_hook(_python_hook)
            elif kind == "builtin line hook":
                c.runtime.set_line_hook(calls.__setitem__)
            c.globals["f"] = _python_hook if kind == "host function" else calls.__setitem__
            call = "f(i, i);" if "host" in kind else ""
            c.eval("let n = 0;\nfor (let i = 0; i < 1000000; i++) {\n  n += i; %s\n}\nn" % call)
            done.append(1)

    t = threading.Thread(target=work)
    t.start()
    turns = 0
    while t.is_alive():
        turns += 1  # this thread runs Python meanwhile, when it gets the GIL
        t.join(0.001)
    assert done
    assert turns >= 2


def test_host_function_called_from_other_thread_context():
    """A host function runs on the thread that called into JS."""
    with qjs.Context(timeout=30) as ctx:
        seen = []
        ctx.globals["whoami"] = lambda: seen.append(threading.get_ident()) or len(seen)
        idents = []

        def run():
            idents.append(threading.get_ident())
            ctx.eval("whoami()")

        run_threads([run])
        assert seen == idents


def test_timeout_in_one_thread_does_not_affect_another():
    results = {}

    def spinner():
        with qjs.Context(timeout=0.2) as ctx:
            try:
                ctx.eval("while (true) {}")
            except qjs.JSTimeoutError:
                results["spinner"] = "timeout"

    def worker():
        with qjs.Context(timeout=30) as ctx:
            results["worker"] = ctx.eval(LOOP)

    run_threads([spinner, worker])
    assert results == {"spinner": "timeout", "worker": expected_loop()}


@pytest.mark.parametrize("n", [8])
def test_many_runtimes_created_and_closed_concurrently(n):
    def worker():
        for _ in range(20):
            with qjs.Context() as ctx:
                assert ctx.eval("[1, 2, 3].reduce((a, b) => a + b)") == 6

    run_threads([worker] * n)


def test_short_thread_stress_run():
    """8 threads sharing, closing and dropping contexts and handles crashed ctx.close()
    without the GIL (a handle list unlinked outside any lock); ci/stress_threads.py."""
    import os
    import subprocess
    import sys

    from conftest import child_env

    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "ci", "stress_threads.py")
    if not os.path.exists(script):
        pytest.skip("ci/stress_threads.py is not beside the tests")
    r = subprocess.run([sys.executable, script, "--seconds", "3", "--seed", "1"],
                       capture_output=True, text=True, timeout=120, env=child_env())
    assert r.returncode == 0, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    assert r.stdout.strip().endswith("ok"), r.stdout[-2000:]
    assert "live objects at the end: {'runtimes': 0, 'contexts': 0, 'handles': 0}" in r.stdout
