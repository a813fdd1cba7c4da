"""The child side of :class:`qjs.Sandbox`: a small fork server and the evaluation loop.

The parent starts one fork server per process (``python -c "...serve(fd)"``) with qjs
already imported; each Sandbox asks it for a child over a stream control socket
(requests are a u32 length and a body; replies have a fixed size), handing over one end of a socket pair. The server forks (it is single-threaded),
and the child runs :func:`child_main` on that socket. The server reaps its children and
reports their exit status, so the parent can tell a crash from a clean exit.

Messages from the parent are trusted (the parent wrote them); the parent treats
everything this side sends as hostile.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import sys
from typing import Any

import qjs
from qjs import _wire

# control requests (parent -> fork server)
CTL_SPAWN = 1  # + options bytes, one fd: the child's socket -> u32 pid
CTL_WAIT = 2  # u32 pid, u8 kill, u32 wait_ms -> i32 status, u8 done

# parent -> child
OP_EVAL = 1  # [code, filename, module, timeout, async, fresh, globals, snapshots]
OP_SET = 2  # [name, value]
OP_GET = 3  # [name]
OP_DEL = 4  # [name]
OP_COMPILE = 5  # [sid, code, filename, module]
OP_RUN = 6  # [sid | script bytes, timeout, async]
OP_DUMPS = 7  # [value]
OP_LOADS = 8  # [data, name]
OP_RETURN = 9  # [cid, value]
OP_RAISE = 10  # [cid, class name, message]
OP_PENDING = 11  # [cid]
OP_RESOLVE = 12  # [cid, value]
OP_REJECT = 13  # [cid, class name, message]

# child -> parent
OP_READY = 20  # [pid]
OP_RESULT = 21  # [value]
OP_ERROR = 22  # [kind, name, message, stack, value, frames, host call id, notes]
OP_CALL = 23  # [cid, fid, args]

EXIT_MAX_RSS = 75  # the child ran out of address space (max_rss)
NO_TIMEOUT = False  # the "use the default timeout" marker is ``False`` on the wire

_HEAD = struct.Struct("<IB")
_U32_FROM = struct.Struct("<I").unpack_from


# ---------------------------------------------------------------- fork server


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Exactly ``n`` bytes from a stream socket (EOFError if it closes first)."""
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("the control socket closed")
        buf += chunk
    return buf


def serve(ctrl_fd: int) -> None:
    """The fork server's loop (runs in its own process)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _preload()
    ctrl = socket.socket(fileno=ctrl_fd)
    live: set[int] = set()
    statuses: dict[int, int] = {}

    def reap(pid: int = -1, flags: int = os.WNOHANG) -> None:
        while live:
            try:
                got, st = os.waitpid(pid, flags)
            except ChildProcessError:
                return
            if got == 0:
                return
            live.discard(got)
            statuses[got] = os.waitstatus_to_exitcode(st)
            if len(statuses) > 4096:
                del statuses[next(iter(statuses))]
            if pid != -1:
                return

    while True:
        try:
            head, fds, _flags, _addr = socket.recv_fds(ctrl, 4, 1)
            if head:
                head += recv_exact(ctrl, 4 - len(head))
                msg = recv_exact(ctrl, struct.unpack("<I", head)[0])
            else:
                msg = b""
        except (OSError, EOFError, struct.error):
            msg, fds = b"", []
        if not msg:
            for pid in live:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            return
        reap()
        op = msg[0]
        if op == CTL_SPAWN:
            sock_fd = fds[0]
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    ctrl.close()
                    code = child_main(sock_fd, bytes(msg[1:]))
                finally:
                    os._exit(code)
            os.close(sock_fd)
            live.add(pid)
            ctrl.sendall(struct.pack("<I", pid))
        elif op == CTL_WAIT:
            pid, kill, wait_ms = struct.unpack_from("<IBI", msg, 1)
            if pid in live and kill:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if pid in live:
                if kill:
                    reap(pid, 0)
                else:
                    import time

                    end = time.monotonic() + wait_ms / 1000
                    while pid in live:
                        reap(pid)
                        if pid not in live or time.monotonic() >= end:
                            break
                        time.sleep(0.001)
            if pid in statuses:
                ctrl.sendall(struct.pack("<iB", statuses.pop(pid), 1))
            else:
                ctrl.sendall(struct.pack("<iB", 0, 0 if pid in live else 2))
        else:
            for fd in fds:
                os.close(fd)


_prctl: Any = None


def _preload() -> None:
    """Import here, once, what every child needs, so a fork starts warm."""
    global _prctl
    import resource  # noqa: F401

    import qjs._format  # noqa: F401

    try:
        import ctypes

        _prctl = ctypes.CDLL(None, use_errno=True).prctl
    except Exception:  # pragma: no cover - not Linux
        _prctl = None
    asyncio.new_event_loop().close()  # the selector and event-loop modules


# ---------------------------------------------------------------- the child


class _Exit(BaseException):
    pass


class _Pending:
    """A host call the parent answers later (its result was awaitable)."""

    __slots__ = ("fut",)

    def __init__(self, fut: asyncio.Future[Any]) -> None:
        self.fut = fut

    async def wait(self) -> Any:
        return await self.fut


def _harden(opts: dict[str, Any], sock_fd: int) -> None:
    import resource

    if _prctl is not None:  # die with the fork server (which dies with the parent)
        try:
            _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except Exception:  # pragma: no cover
            pass
    if opts.get("close_fds", True):
        keep = {0, 1, 2, sock_fd}
        try:
            fds = [int(n) for n in os.listdir("/proc/self/fd")]
        except OSError:  # pragma: no cover
            fds = list(range(3, 256))
        for fd in fds:
            if fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
    if opts.get("empty_env"):
        os.environ.clear()
    for key, res in (
        ("rlimit_nofile", resource.RLIMIT_NOFILE),
        ("rlimit_nproc", resource.RLIMIT_NPROC),
    ):
        n = opts.get(key)
        if n is not None:
            resource.setrlimit(res, (n, n))
    rss = opts.get("max_rss")
    if rss is not None:
        rss = _address_space_limit(rss)
        resource.setrlimit(resource.RLIMIT_AS, (rss, rss))


def _address_space_limit(max_rss: int) -> int:
    """The RLIMIT_AS that bounds memory in use at max_rss. A free-threaded
    interpreter maps its allocator's first arena (1 GiB, a few MiB of it resident)
    at start-up: that reservation is not memory in use, and with it counted no
    child would start under a smaller limit. It is added to the limit."""
    if not hasattr(sys, "_is_gil_enabled"):
        return max_rss  # before 3.13: no free-threaded build
    import sysconfig

    if not sysconfig.get_config_var("Py_GIL_DISABLED"):
        return max_rss
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        reserved = (int(status["VmSize"].split()[0]) - int(status["VmRSS"].split()[0])) * 1024
    except (OSError, KeyError, ValueError):
        return max_rss
    return max_rss + max(0, reserved)


async def _now(v: Any) -> Any:
    return v


async def _settled(aw: Any) -> Any:
    """Await a completion value that is a promise (or thenable), as eval_async does."""
    v = await aw
    if type(v).__name__ == "Handle" and v.typeof == "object":
        try:
            if v.typeof == "object" and "then" in v and v.get_handle("then").typeof == "function":
                return await v
        finally:
            v.dispose()
    return v


def _js_type(h: Any) -> str:
    try:
        t = h.typeof
        if t == "object":
            with h.get_handle("constructor") as c:
                name = c["name"] if c.typeof == "function" else None
            if isinstance(name, str) and name:
                return name
        return str(t)
    except Exception:
        return "value"


def _no_handle(v: Any, path: str) -> Any:
    if type(v).__name__ == "Handle":
        raise TypeError(
            f"a Sandbox cannot return a JS {_js_type(v)}: only converted values cross "
            "the process boundary (convert it in JS first)"
        )
    raise TypeError(f"cannot send a {type(v).__name__} out of a Sandbox")


_EXC_CLASSES: dict[str, type[Exception]] = {}


def _host_exc(name: str, message: str, cid: int) -> Exception:
    """An exception whose class name is the host exception's, so JS sees the same
    ``name`` as in-process; it remembers which call raised it."""
    cls = _EXC_CLASSES.get(name)
    if cls is None:
        cls = type(name, (Exception,), {"__str__": lambda self: self.args[0]})
        _EXC_CLASSES[name] = cls
    exc = cls(message)
    exc._qjs_call = cid  # type: ignore[attr-defined]
    return exc


class _Child:
    def __init__(self, sock_fd: int) -> None:
        self.fd = sock_fd
        self.buf = bytearray()
        self.next_cid = 1
        self.futures: dict[int, asyncio.Future[Any]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ctx: Any = None
        self.rt: Any = None
        self.ctx_opts: dict[str, Any] = {}
        self.scripts: dict[int, Any] = {}
        self.used = False
        self.max_rss = None
        self.test_hooks = False
        self.console_lines: Any = None
        self.cache: dict[Any, Any] = {}
        self.dirty = False  # the last fresh run failed: replace the runtime
        self.nfuncs = 0  # host-function proxies made so far
        self.frame_funcs = 0  # ... by the last frame read

    # -- framing (the parent is trusted: no bounds beyond sanity)
    def send(self, op: int, fields: list[Any]) -> None:
        data = _wire.encode_frame(op, fields, None, _no_handle)
        n = os.write(self.fd, data)
        if n < len(data):
            view = memoryview(data)[n:]
            while view:
                n = os.write(self.fd, view)
                view = view[n:]

    def read_frame(self) -> tuple[int, Any]:
        buf = self.buf
        while True:
            if len(buf) >= 4:
                n = _U32_FROM(buf, 0)[0]
                if len(buf) >= 4 + n:
                    op = buf[4]
                    body = bytes(buf[5 : 4 + n])
                    del buf[: 4 + n]
                    return op, self._decode(body, 0)
            data = os.read(self.fd, 65536)
            if not data:  # the parent closed the sandbox (or died)
                os._exit(0)
            if not buf and len(data) > 4 and _U32_FROM(data, 0)[0] == len(data) - 4:
                return data[4], self._decode(data, 5)  # exactly one frame: the usual case
            buf += data

    def _decode(self, data: bytes, start: int) -> Any:
        n0 = self.nfuncs
        f = _wire.decode(data, make_func=self.make_func, start=start)
        self.frame_funcs = self.nfuncs - n0
        return f

    def has_frame(self) -> bool:
        buf = self.buf
        return len(buf) >= 4 and len(buf) >= 4 + _U32_FROM(buf, 0)[0]

    # -- host functions
    def make_func(self, fid: int, name: str, is_async: bool = False) -> Any:
        child = self
        self.nfuncs += 1
        host: Any
        if is_async:

            async def host(*args: Any) -> Any:
                r = child.call(fid, args)
                if isinstance(r, _Pending):
                    return await r.fut
                return r

        else:

            def host(*args: Any) -> Any:
                r = child.call(fid, args)
                if isinstance(r, _Pending):
                    return r.wait()
                return r

        host.__name__ = host.__qualname__ = name
        return host

    def call(self, fid: int, args: tuple[Any, ...]) -> Any:
        cid = self.next_cid
        self.next_cid += 1
        self.send(OP_CALL, [cid, fid, list(args)])
        while True:
            op, f = self.read_frame()
            if op == OP_RETURN and f[0] == cid:
                self._drain_later()
                return f[1]
            if op == OP_RAISE and f[0] == cid:
                self._drain_later()
                raise _host_exc(f[1], f[2], cid)
            if op == OP_PENDING and f[0] == cid:
                self._drain_later()
                fut = asyncio.get_running_loop().create_future()
                self.futures[cid] = fut
                return _Pending(fut)
            if op < OP_RETURN:  # a host function called back into this sandbox
                self.answer(op, f)
                continue
            self.settle(op, f)

    def settle(self, op: int, f: list[Any]) -> None:
        if op in (OP_RESOLVE, OP_REJECT):
            fut = self.futures.pop(f[0], None)
            if fut is not None and not fut.done():
                if op == OP_RESOLVE:
                    fut.set_result(f[1])
                else:
                    fut.set_exception(_host_exc(f[1], f[2], f[0]))

    def _drain_later(self) -> None:
        if self.loop is not None and self.loop.is_running() and self.has_frame():
            self.loop.call_soon(self._drain)

    def _drain(self) -> None:
        while self.has_frame():
            op, f = self.read_frame()
            self.settle(op, f)

    def _on_readable(self) -> None:
        data = os.read(self.fd, 65536)
        if not data:
            os._exit(0)
        self.buf += data
        self._drain()

    # -- the context
    def new_context(self) -> None:
        if self.ctx is not None:
            self.ctx.close()
            self.ctx = None
        if self.rt is not None and self.dirty:
            # the last run failed (out of memory, say): start from a new runtime
            self.rt.close()
            self.rt = None
        self.dirty = False
        try:
            self._new_context()
        except (MemoryError, qjs.JSError):
            if self.rt is None:
                raise
            self.rt.close()
            self.rt = None
            self._new_context()

    def _new_context(self) -> None:
        opts = self.ctx_opts
        if self.rt is None:
            self.rt = qjs.Runtime(
                memory_limit=opts.get("memory_limit"),
                stack_limit=opts.get("stack_limit"),
                timeout=opts.get("timeout"),
            )
        kw = {k: v for k, v in opts.items() if k not in ("memory_limit", "stack_limit", "timeout")}
        if self.console_lines is not None:
            kw["console"] = self.console_lines
        self.ctx = self.rt.new_context(**kw)
        self.used = False
        if self.test_hooks:
            _test_hooks(self.ctx)

    def compiled(self, code: str, filename: str) -> Any:
        """The Script for ``code`` (a pool runs the same code many times)."""
        key = (code, filename)
        script = self.cache.get(key)
        if script is None:
            try:
                script = self.ctx.compile(code, filename=filename)
            except qjs.JSError:  # top-level await (or a real syntax error): eval it
                script = code
            if len(self.cache) >= 64:
                del self.cache[next(iter(self.cache))]
            self.cache[key] = script
        return script

    def run_async(self, coro: Any) -> Any:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        loop = self.loop
        loop.add_reader(self.fd, self._on_readable)
        try:
            return loop.run_until_complete(coro)
        finally:
            loop.remove_reader(self.fd)
            for fut in self.futures.values():
                fut.cancel()
            self.futures.clear()

    def timeout_kw(self, timeout: Any) -> dict[str, Any]:
        return {} if timeout is False else {"timeout": timeout}

    # -- requests
    def handle(self, op: int, f: list[Any]) -> Any:
        ctx = self.ctx
        if op == OP_EVAL:
            code, filename, module, timeout, is_async, fresh, globs = f[:7]
            if fresh and self.used:
                self.new_context()
                ctx = self.ctx
            self.used = True
            if globs:
                g = ctx.globals
                for k, v in globs.items():
                    g[k] = v
            if len(f) > 7 and f[7]:
                for k, data in f[7].items():
                    with ctx.loads(data) as h:
                        ctx.globals[k] = h
            kw = self.timeout_kw(timeout)
            if fresh and not module and isinstance(code, str):
                code = self.compiled(code, filename)
            if not isinstance(code, str):
                script = code if isinstance(code, qjs.Script) else self.script_from_bytes(code)
                if is_async and fresh and not self.frame_funcs:
                    # no host functions came with this run: run it without the event
                    # loop unless its completion value is a promise
                    v = script.run(ctx, **kw)
                    if type(v).__name__ != "Handle" or v.typeof != "object":
                        return v
                    return self.run_async(_settled(_now(v)))
                if is_async:
                    return self.run_async(self._run_script_async(script, kw))
                return script.run(ctx, **kw)
            if is_async:
                return self.run_async(
                    _settled(ctx.eval_async(code, filename=filename, module=module, **kw))
                )
            return ctx.eval(code, filename=filename, module=module, **kw)
        if op == OP_SET:
            self.used = True
            ctx.globals[f[0]] = f[1]
            return None
        if op == OP_GET:
            return ctx.globals[f[0]]
        if op == OP_DEL:
            self.used = True
            del ctx.globals[f[0]]
            return None
        if op == OP_COMPILE:
            sid, code, filename, module = f
            self.scripts[sid] = ctx.compile(code, filename=filename, module=module)
            return None
        if op == OP_RUN:
            ref, timeout, is_async = f
            self.used = True
            script = (
                self.scripts[ref] if isinstance(ref, int) else qjs.Script.from_bytes(self.rt, ref)
            )
            kw = self.timeout_kw(timeout)
            if is_async:
                return self.run_async(self._run_script_async(script, kw))
            return script.run(ctx, **kw)
        if op == OP_DUMPS:
            return ctx.dumps(f[0])
        if op == OP_LOADS:
            data, name = f
            h = ctx.loads(data)
            if name is None:
                with h:
                    return h.to_python()
            self.used = True
            ctx.globals[name] = h
            h.dispose()
            return None
        raise ValueError(f"unknown request {op}")

    def script_from_bytes(self, data: bytes) -> Any:
        script = self.cache.get(data)
        if script is None:
            script = qjs.Script.from_bytes(self.rt, data)
            if len(self.cache) >= 64:
                del self.cache[next(iter(self.cache))]
            self.cache[data] = script
        return script

    async def _run_script_async(self, script: Any, kw: dict[str, Any]) -> Any:
        return await _settled(_now(script.run(self.ctx, **kw)))

    def report(self, exc: BaseException) -> None:
        cid = getattr(exc, "_qjs_call", None)
        notes = [n for n in getattr(exc, "__notes__", ()) if isinstance(n, str)]
        if cid is not None:
            self.send(OP_ERROR, ["host", type(exc).__name__, str(exc), "", None, [], cid, notes])
            return
        if isinstance(exc, qjs.JSError):
            kind = type(exc).__name__
            name, message, stack = exc.name, exc.message, exc.stack
            value = exc.value
            if type(value).__name__ == "Handle":
                value = None
        else:
            kind = type(exc).__name__
            name, message, stack, value = kind, str(exc), "", None
        frames = self.frames(exc)
        try:
            self.send(OP_ERROR, [kind, name, message, stack, value, frames, None, notes])
        except (TypeError, ValueError):
            self.send(OP_ERROR, [kind, name, message, stack, None, frames, None, notes])

    def frames(self, exc: BaseException) -> list[Any]:
        get = getattr(qjs, "frames", None)
        if get is None:
            return []
        out = []
        try:
            for fr in get(exc):
                loc = getattr(fr, "locals", None)
                if loc is not None:
                    safe = {}
                    for k, v in loc.items():
                        try:
                            _wire.encode(v)
                        except (TypeError, ValueError):
                            continue
                        safe[k] = v
                    loc = safe
                out.append([fr.function, fr.filename, fr.line, fr.column, loc])
        except Exception:
            return []
        return out

    def memory_exhausted(self, exc: BaseException) -> bool:
        """True when a memory error came from the process limit (max_rss), not from
        the runtime's own memory_limit."""
        if self.max_rss is None:
            return False
        if not isinstance(exc, (MemoryError, qjs.JSMemoryError)):
            return False
        limit = self.ctx_opts.get("memory_limit")
        if limit is None:
            return True
        try:
            used = self.rt.memory_usage()["malloc_size"]
        except Exception:
            return True
        return bool(used < limit * 0.9)

    def loop_forever(self) -> None:
        while True:
            op, f = self.read_frame()
            if op >= OP_RETURN:
                continue  # a late answer to a call of an evaluation that ended
            self.answer(op, f)

    def answer(self, op: int, f: list[Any]) -> None:
        try:
            result = self.handle(op, f)
        except (_Exit, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            if self.memory_exhausted(exc):
                os._exit(EXIT_MAX_RSS)
            if op == OP_EVAL and f[5]:
                self.dirty = True
            self.report(exc)
            return
        try:
            self.send(OP_RESULT, [result])
        except (TypeError, ValueError) as exc:
            self.report(exc)
        if op == OP_EVAL and f[5]:  # a pool run: make the next run's context now
            result = None
            try:
                self.new_context()
            except Exception:  # tried again, and reported, on the next run
                self.used = True


def _test_hooks(ctx: Any) -> None:
    """Functions that crash this process on purpose (tests only)."""

    def crash(kind: str = "abort") -> None:
        if kind == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif kind == "exit":
            os._exit(3)
        elif kind == "hang":
            import time

            time.sleep(3600)
        elif kind == "garbage":
            os.write(ctx_fd[0], b"\x05\x00\x00\x00\x15\xff\xff\xff\xff")
        elif kind == "huge":
            os.write(ctx_fd[0], b"\xff\xff\xff\x7f\x15")
        else:
            os.abort()

    def send_raw(data: bytes, then: str = "hang") -> None:
        os.write(ctx_fd[0], bytes(data))
        if then == "hang":
            import time

            time.sleep(3600)

    def probe(what: str) -> Any:
        import resource

        if what == "env":
            return len(os.environ)
        if what == "fds":
            return sorted(int(n) for n in os.listdir("/proc/self/fd"))
        if what == "nofile":
            return list(resource.getrlimit(resource.RLIMIT_NOFILE))
        if what == "nproc":
            return list(resource.getrlimit(resource.RLIMIT_NPROC))
        if what == "as":
            return list(resource.getrlimit(resource.RLIMIT_AS))
        if what == "pid":
            return os.getpid()
        raise ValueError(what)

    ctx.globals["__qjs_crash"] = crash
    ctx.globals["__qjs_send_raw"] = send_raw
    ctx.globals["__qjs_probe"] = probe


ctx_fd = [-1]


def child_main(sock_fd: int, options: bytes) -> int:
    """Run one sandbox on ``sock_fd`` until the parent closes it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    child = _Child(sock_fd)
    ctx_fd[0] = sock_fd
    try:
        opts = _wire.decode(options, make_func=child.make_func)
        _harden(opts, sock_fd)
        child.max_rss = opts.get("max_rss")
        child.ctx_opts = opts["context"]
        child.test_hooks = bool(opts.get("test_hooks"))
        lines = opts.get("console_lines")
        if lines is not None:
            from qjs._format import format_value

            def console(level: str, *args: Any) -> None:
                lines(level, " ".join(format_value(a) for a in args))

            child.console_lines = console
        child.new_context()
        child.send(OP_READY, [os.getpid()])
        child.loop_forever()
    except _Exit:
        return 0
    except BaseException as exc:
        if child.max_rss is not None and isinstance(exc, MemoryError):
            return EXIT_MAX_RSS  # a broken setup: tell the parent, then exit
        try:
            child.report(exc)
        except BaseException:
            pass
        try:
            sys.stderr.flush()
        except Exception:
            pass
        return 1
    return 0
