"""Isolation in a child process: :class:`Sandbox` and :class:`SandboxPool`.

A :class:`Sandbox` is a :class:`qjs.Context` living in its own child process, forked
from a per-process fork server that has qjs already imported. Requests and answers
travel over a socket pair as length-prefixed frames holding values in an exact
binary encoding (:mod:`qjs._wire`); nothing the child sends is unpickled or trusted.
Host functions stay in this process: JS calls them over the socket.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import functools
import inspect
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import qjs
from qjs import _sandbox_child as _c
from qjs import _wire
from qjs import errors as _errors
from qjs.errors import SandboxCrashedError

__all__ = ["Sandbox", "SandboxCrashedError", "SandboxPool", "SandboxScript"]

_DEFAULT: Any = object()
_SANDBOX_OPTIONS = frozenset(
    {
        "max_rss",
        "kill_after",
        "close_fds",
        "empty_env",
        "rlimit_nofile",
        "rlimit_nproc",
        "max_message",
        "start_timeout",
        "_test_hooks",
    }
)
_ASYNC_NEEDS_LOOP = (
    "async host functions need a running asyncio event loop: use eval_async "
    "(or await the handle) instead of eval"
)

# exception classes a child may name; anything else arrives as qjs.Error
_KINDS: dict[str, type[BaseException]] = {
    "JSError": _errors.JSError,
    "InterruptedError": _errors.InterruptedError,
    "JSTimeoutError": _errors.JSTimeoutError,
    "JSMemoryError": _errors.JSMemoryError,
    "JSStackOverflowError": _errors.JSStackOverflowError,
    "DeadlockError": _errors.DeadlockError,
    "ClosedError": _errors.ClosedError,
    "TypeError": TypeError,
    "ValueError": ValueError,
    "OverflowError": OverflowError,
    "RecursionError": RecursionError,
    "MemoryError": MemoryError,
    "RuntimeError": RuntimeError,
    "KeyError": KeyError,
    "IndexError": IndexError,
    "UnicodeError": UnicodeError,
}


_U32_FROM = struct.Struct("<I").unpack_from
_TIMEVAL = struct.Struct("@ll").pack
_MAX_NODES: int = qjs.MAX_NODES
# results of host functions that are never awaitable (skip inspect.isawaitable)
_PLAIN = frozenset({int, str, float, bool, type(None), list, dict, tuple, bytes})


class _Malformed(Exception):
    pass


class _Eof(Exception):
    pass


class _Deadline(Exception):
    pass


# ---------------------------------------------------------------- the fork server


class _ForkServer:
    """One per process: a Python child with qjs imported that forks sandboxes."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(os.environ)
        pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(qjs.__file__)))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from qjs._sandbox_child import serve; serve(int(sys.argv[1]))",
                str(theirs.fileno()),
            ],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
        theirs.close()
        ours.settimeout(60.0)
        self.sock = ours
        self.lock = threading.Lock()
        self.owner = os.getpid()

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.proc.poll() is None

    def spawn(self, options: bytes) -> tuple[int, socket.socket]:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with self.lock:
                body = bytes([_c.CTL_SPAWN]) + options
                socket.send_fds(self.sock, [struct.pack("<I", len(body)) + body], [child.fileno()])
                reply = _c.recv_exact(self.sock, 4)
        except (OSError, EOFError):
            parent.close()
            raise SandboxCrashedError(
                "the sandbox fork server is gone", exitcode=self.proc.poll()
            ) from None
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        return struct.unpack("<I", reply)[0], parent

    def wait(self, pid: int, *, kill: bool, wait: float = 0.0) -> int | None:
        """The exit code of ``pid`` (killing it first if asked); None if still running."""
        try:
            with self.lock:
                self.sock.sendall(
                    struct.pack("<IBIBI", 10, _c.CTL_WAIT, pid, int(kill), int(wait * 1000))
                )
                reply = _c.recv_exact(self.sock, 5)
        except (OSError, EOFError):
            return None
        status, done = struct.unpack("<iB", reply)
        return status if done == 1 else None

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:  # pragma: no cover
                self.proc.kill()
                self.proc.wait()


_server: _ForkServer | None = None
_server_lock = threading.Lock()


def _fork_server() -> _ForkServer:
    global _server
    with _server_lock:
        if _server is None or not _server.alive():
            if _server is not None and _server.owner == os.getpid():
                _server.close()
            _server = _ForkServer()
        return _server


def _shutdown_fork_server() -> None:
    """Stop the fork server (its sandboxes die with it). Used at exit and by tests."""
    global _server
    with _server_lock:
        if _server is not None and _server.owner == os.getpid():
            _server.close()
        _server = None


atexit.register(_shutdown_fork_server)


def _console_write(level: str, text: str) -> None:
    stream = sys.stderr if level in ("warn", "error") else sys.stdout
    stream.write(text + "\n")


class _Turn:
    """A pool run's place in its worker's line: ``end()`` wakes the run after it."""

    __slots__ = ("ended", "waiter")

    def __init__(self) -> None:
        self.ended = False
        self.waiter: asyncio.Future[None] | None = None

    def end(self) -> None:
        self.ended = True
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)


class _QueuedRun:
    """A pool run queued behind the run in progress on the same worker."""

    __slots__ = ("frame", "sent", "gen")

    def __init__(self, fields: list[Any], sb: Sandbox) -> None:
        data = _wire.encode_frame(_c.OP_EVAL, fields, sb._register)
        # a large request waits for its turn (a blocking send must not stall the loop)
        self.frame: bytearray | None = data if len(data) <= 32768 else None
        self.sent = False
        self.gen = 0

    def send(self, sb: Sandbox) -> None:
        sock = sb._sock
        if sock is None or self.frame is None:
            return
        try:
            sock.sendall(self.frame)
        except OSError:
            return
        self.sent = True
        self.gen = sb._gen


class _AsyncRequest:
    """One request awaited on an event loop: reads the child's messages as they
    arrive, runs host calls, and settles ``done`` with the final answer."""

    __slots__ = ("sb", "loop", "fd", "done", "tasks")

    def __init__(self, sb: Sandbox, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self.sb = sb
        self.loop = loop
        self.fd = fd
        self.done: asyncio.Future[tuple[int, list[Any]]] = loop.create_future()
        self.tasks: set[asyncio.Future[Any]] | None = None

    def expire(self) -> None:
        if not self.done.done():
            self.done.set_exception(_Deadline())

    def on_readable(self) -> None:
        sb = self.sb
        done = self.done
        try:
            data = os.read(self.fd, 65536)
            if not data:
                raise _Eof()
            buf = sb._buf
            if not buf and len(data) > 4 and _U32_FROM(data, 0)[0] == len(data) - 4:
                # exactly one whole frame: the usual case
                if len(data) - 4 > sb._max_message:
                    raise _Malformed(f"frame length {len(data) - 4}")
                op = data[4]
                f = sb._decode(op, data, 5)
                if op != _c.OP_CALL:
                    self.finish(op, f)
                    return
                self.call(f)
                return
            buf += data
            self.drain()
        except BaseException as exc:
            if not done.done():
                done.set_exception(exc)

    def drain(self) -> None:
        """Handle the whole frames already read (a pipelined run's messages may have
        arrived with the answer of the run before it)."""
        sb = self.sb
        while not self.done.done():
            got = sb._parse()
            if got is None:
                return
            op, f = got
            if op != _c.OP_CALL:
                self.finish(op, f)
                return
            self.call(f)

    def finish(self, op: int, f: list[Any]) -> None:
        if self.done.done():
            return
        q = self.sb._queued
        if q is not None and not q.sent and q.frame is not None:
            # the next run of a pool worker goes out now, so the child finds it
            # waiting when it has made its next context
            q.send(self.sb)
        self.done.set_result((op, f))

    def call(self, f: list[Any]) -> None:
        sb = self.sb
        r = sb._call_host(f)
        if r is not None:
            sb._send(_c.OP_PENDING, [f[0]])
            task = asyncio.ensure_future(_as_coroutine(r))
            if self.tasks is None:
                self.tasks = set()
            self.tasks.add(task)
            task.add_done_callback(functools.partial(self.settle, cid=f[0]))

    def settle(self, task: asyncio.Future[Any], *, cid: int) -> None:
        sb = self.sb
        done = self.done
        if self.tasks is not None:
            self.tasks.discard(task)
        if done.done() or task.cancelled():
            return
        try:
            exc = task.exception()
            if exc is None:
                try:
                    sb._send(_c.OP_RESOLVE, [cid, task.result()])
                except (TypeError, ValueError) as e:
                    sb._raise_to_child(_c.OP_REJECT, cid, e)
            elif isinstance(exc, Exception):
                sb._raise_to_child(_c.OP_REJECT, cid, exc)
            else:
                done.set_exception(exc)
        except BaseException as e:  # the socket broke
            if not done.done():
                done.set_exception(e)


# ---------------------------------------------------------------- Sandbox


class _Globals:
    """``sb.globals``: set, read and delete globals of the sandboxed context."""

    __slots__ = ("_sb",)

    def __init__(self, sb: Sandbox) -> None:
        self._sb = sb

    def __setitem__(self, name: str, value: Any) -> None:
        self._sb._set_global(name, value)

    def __getitem__(self, name: str) -> Any:
        return self._sb._request(_c.OP_GET, [name], _DEFAULT)

    def __delitem__(self, name: str) -> None:
        self._sb._request(_c.OP_DEL, [name], _DEFAULT)
        self._sb._replay.pop(name, None)


class SandboxScript:
    """Code compiled inside a Sandbox's child (``Sandbox.compile``). The compiled
    code never leaves the child; after a restart it is compiled again from source."""

    def __init__(self, sandbox: Sandbox, sid: int, code: str, filename: str, module: bool) -> None:
        self.sandbox = sandbox
        self.filename = filename
        self.module = module
        self._sid = sid
        self._code = code

    def run(self, *, timeout: float | None = _DEFAULT) -> Any:
        """Run in the sandbox; returns the completion value (a module: its namespace)."""
        return self.sandbox.run(self, timeout=timeout)

    async def run_async(self, *, timeout: float | None = _DEFAULT) -> Any:
        """Run, awaiting a promise result, with async host functions available."""
        return await self.sandbox.run_async(self, timeout=timeout)


class Sandbox:
    """A :class:`qjs.Context` in its own child process.

    ``context_options`` (``memory_limit``, ``stack_limit``, ``timeout``, ``console``,
    ...) configure the child's context. Process options:

    - ``max_rss``: address-space limit of the child in bytes (``RLIMIT_AS``);
      exceeding it raises :class:`SandboxCrashedError`. On a free-threaded Python
      the allocator's arena, reserved at start-up but not yet in use, is added.
    - ``kill_after`` (1.0 s): a child that has not answered ``timeout + kill_after``
      seconds after a request is killed, and ``JSTimeoutError`` raised.
    - ``close_fds`` (True): the child closes every inherited descriptor but its
      socket and stdio.
    - ``empty_env`` (False): the child clears its environment.
    - ``rlimit_nofile``, ``rlimit_nproc``: ``setrlimit`` values for the child.
    - ``max_message`` (256 MiB): the largest frame accepted from the child.

    A crashed or killed child is replaced on the next call, with the globals set
    through ``sb.globals[...] = ...`` set again; other JS state is lost.
    """

    def __init__(self, **options: Any) -> None:
        if not hasattr(os, "fork") or not hasattr(socket, "send_fds"):
            raise NotImplementedError(
                "qjs.Sandbox needs a POSIX system (fork and descriptor passing)"
            )
        self._opts = {k: options.pop(k) for k in list(options) if k in _SANDBOX_OPTIONS}
        self._context_options = options
        self.kill_after = float(self._opts.get("kill_after", 1.0))
        self.timeout: float | None = options.get("timeout")
        self._max_message = int(self._opts.get("max_message", 256 << 20))
        self._funcs: dict[int, Callable[..., Any]] = {}
        self._fids: dict[int, int] = {}
        self._replay: dict[str, Any] = {}
        self._scripts: dict[int, tuple[str, str, bool]] = {}
        self._compiled: set[int] = set()
        self._host_errors: dict[int, BaseException] = {}
        self._lock = threading.RLock()
        self._alock: asyncio.Lock | None = None
        self._alock_loop: Any = None
        self._sock: socket.socket | None = None
        self._poll: Any = None
        self._rcvtimeo = 0.0  # the socket's SO_RCVTIMEO (0: none)
        self._buf = bytearray()
        self._pid: int | None = None
        self._closed = False
        self._inflight: tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]] | None = None
        self._gen = 0  # which child: counts starts
        self._eval_frames: dict[tuple[Any, ...], bytes] = {}  # encoded eval requests
        self._rl: asyncio.AbstractEventLoop | None = None  # the loop our reader is on
        self._rfd = -1
        self._rgen = 0
        self._r_eof = False  # the child closed its end while no request was reading
        self._areq: _AsyncRequest | None = None  # the request reading now
        self._pool_jobs = 0  # pool runs holding this worker (SandboxPool's bookkeeping)
        self._pool_loop: asyncio.AbstractEventLoop | None = None
        self._turn: _Turn | None = None  # the last pool run's (ended when it ends)
        self._queued: _QueuedRun | None = None  # the pool run waiting for its turn
        self.restarts = 0
        self._encoded_options = self._encode_options()
        self._start()

    # -- lifecycle
    def _encode_options(self) -> bytes:
        ctx_opts = dict(self._context_options)
        opts: dict[str, Any] = {
            k: self._opts[k]
            for k in ("max_rss", "close_fds", "empty_env", "rlimit_nofile", "rlimit_nproc")
            if k in self._opts
        }
        if self._opts.get("_test_hooks") or os.environ.get("QJS_SANDBOX_TEST_HOOKS") == "1":
            opts["test_hooks"] = True
        if "console" not in ctx_opts or ctx_opts["console"] is True:
            ctx_opts.pop("console", None)
            opts["console_lines"] = _console_write
        opts["context"] = ctx_opts
        return _wire.encode(opts, on_callable=self._register)

    def _start(self) -> None:
        start_timeout = float(self._opts.get("start_timeout", 30.0))
        pid, sock = _fork_server().spawn(self._encoded_options)
        self._pid, self._sock, self._buf, self._poll = pid, sock, bytearray(), None
        self._rcvtimeo = 0.0
        self._r_eof = False
        self._gen += 1
        self._compiled = set()
        try:
            op, f = self._recv_sync(time.monotonic() + start_timeout)
            if op == _c.OP_ERROR:
                raise self._error(f)
            if op != _c.OP_READY:
                raise _Malformed("expected a ready message")
        except _Deadline:
            self._kill()
            raise SandboxCrashedError("the sandbox did not start in time", exitcode=None) from None
        except _Eof:
            raise self._crashed() from None
        except _Malformed as exc:
            raise self._malformed(exc) from None
        except BaseException:
            self._kill()
            raise
        if self._replay:
            for name, value in list(self._replay.items()):
                self._request(_c.OP_SET, [name, value], _DEFAULT, replay=False)

    def _ensure(self) -> None:
        if self._closed:
            raise _errors.ClosedError("the Sandbox is closed")
        if self._sock is None:
            self.restarts += 1
            self._start()

    def _reap(self, kill: bool) -> int | None:
        pid, sock = self._pid, self._sock
        self._pid = self._sock = self._poll = None
        if sock is not None:
            sock.close()
        if pid is None:
            return None
        server = _server
        if server is None or not server.alive():
            return None
        code = None
        if not kill:  # the child closed its end: it is exiting; give it a moment
            code = server.wait(pid, kill=False, wait=self.kill_after)
        if code is None:
            code = server.wait(pid, kill=True)
        return code

    def _kill(self) -> int | None:
        return self._reap(kill=True)

    def _request_failure(self, exc: BaseException) -> BaseException:
        """What a request that failed with `exc` raises; kills the child where the
        exchange cannot go on (a missed deadline, a cancellation, KeyboardInterrupt)."""
        if isinstance(exc, _Deadline):
            self._kill()
            return _errors.JSTimeoutError(
                "the sandbox did not answer in time and was killed", name="InternalError"
            )
        if isinstance(exc, (_Eof, BrokenPipeError, ConnectionResetError)):
            return self._crashed()
        if isinstance(exc, _Malformed):
            return self._malformed(exc)
        if not isinstance(exc, Exception):  # cancelled, KeyboardInterrupt, SystemExit, ...
            self._kill()
        return exc

    def _crashed(self) -> SandboxCrashedError:
        code = self._reap(kill=False)
        if code == _c.EXIT_MAX_RSS:
            why = "ran out of memory (max_rss)"
        elif code is not None and code < 0:
            try:
                why = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                why = f"was killed by signal {-code}"
        else:
            why = f"exited with code {code}"
        return SandboxCrashedError(f"the sandbox process {why}", exitcode=code)

    def _malformed(self, exc: BaseException) -> SandboxCrashedError:
        code = self._kill()
        return SandboxCrashedError(
            f"the sandbox sent a malformed message ({exc}); it was killed", exitcode=code
        )

    @property
    def pid(self) -> int | None:
        """The child's process id (None between a crash and the next call)."""
        return self._pid

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop the child. Closing twice is a no-op."""
        if self._closed:
            return
        self._closed = True
        inflight = self._inflight
        if inflight is not None:
            loop, fut = inflight
            if not loop.is_closed():
                loop.call_soon_threadsafe(
                    _fail_closed, fut, "the Sandbox was closed during the call"
                )
        self._kill()
        self._funcs.clear()
        self._fids.clear()
        self._replay.clear()
        self._host_errors.clear()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> Sandbox:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self._closed and self._sock is not None:
                self.close()
        except Exception:
            pass

    # -- encoding
    def _register(self, fn: Any) -> tuple[int, str, bool]:
        fid = self._fids.get(id(fn))
        if fid is None or self._funcs.get(fid) is not fn:
            fid = len(self._funcs) + 1
            self._funcs[fid] = fn
            self._fids[id(fn)] = fid
        name = getattr(fn, "__name__", "")
        is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)
        )
        return fid, name if isinstance(name, str) else "", is_async

    def _send(self, op: int, fields: list[Any]) -> None:
        data = _wire.encode_frame(op, fields, self._register)
        assert self._sock is not None
        self._sock.sendall(data)

    def _parse(self) -> tuple[int, list[Any]] | None:
        buf = self._buf
        if len(buf) < 4:
            return None
        n = _U32_FROM(buf, 0)[0]
        if n < 1 or n > self._max_message:
            raise _Malformed(f"frame length {n}")
        if len(buf) < 4 + n:
            return None
        op = buf[4]
        body = bytes(buf[5 : 4 + n])
        del buf[: 4 + n]
        return op, self._decode(op, body, 0)

    def _decode(self, op: int, data: bytes, start: int) -> list[Any]:
        try:
            f = _wire.decode(data, max_nodes=_MAX_NODES, start=start)
        except ValueError as exc:
            raise _Malformed(str(exc)) from None
        if type(f) is not list:
            raise _Malformed("a message is not a list")
        _validate(op, f, self._funcs)
        return f

    def _recv_sync(self, deadline: float | None) -> tuple[int, list[Any]]:
        """The next message. One blocking read per message (no poll first): the
        socket's receive timeout (``SO_RCVTIMEO``) bounds each read by the deadline."""
        sock = self._sock
        assert sock is not None
        fd = sock.fileno()
        buf = self._buf
        while True:
            if buf:
                got = self._parse()
                if got is not None:
                    return got
            if deadline is not None:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    raise _Deadline()
                rcv = self._rcvtimeo
                if rcv == 0.0 or rcv > wait + 0.005 or rcv < wait - 0.005:
                    self._set_rcvtimeo(sock, wait)
            elif self._rcvtimeo != 0.0:
                self._set_rcvtimeo(sock, 0.0)
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:  # the receive timeout expired: look at the deadline
                continue
            if not data:
                raise _Eof()
            if not buf and len(data) > 4:
                # the usual case: the read holds exactly one whole frame
                n = _U32_FROM(data, 0)[0]
                if n == len(data) - 4:
                    if n > self._max_message:
                        raise _Malformed(f"frame length {n}")
                    op = data[4]
                    return op, self._decode(op, data, 5)
            buf += data

    def _set_rcvtimeo(self, sock: socket.socket, wait: float) -> None:
        if wait > 0.0:
            wait = max(wait, 0.001)  # 0 would mean "no timeout"
            sec = int(wait)
            usec = int((wait - sec) * 1e6)
        else:
            sec = usec = 0
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _TIMEVAL(sec, usec))
        self._rcvtimeo = wait

    def _deadline(self, timeout: Any) -> float | None:
        t = self.timeout if timeout is _DEFAULT else timeout
        if t is None:
            return None
        return time.monotonic() + float(t) + self.kill_after

    # -- errors
    def _error(self, f: list[Any]) -> BaseException:
        kind, name, message, stack, value, frames, cid, notes = f
        if kind == "host" and cid in self._host_errors:
            exc = self._host_errors.pop(cid)
            for note in notes:
                _add_note(exc, note)
            return exc
        cls = _KINDS.get(kind)
        if cls is None:
            return _errors.Error(f"{name}: {message}" if message else name)
        if issubclass(cls, _errors.JSError):
            exc = cls(message, name=name, stack=stack, value=value)
            _attach_frames(exc, frames)
        else:
            exc = cls(message)
        for note in notes:
            _add_note(exc, note)
        return exc

    def _finish(self, op: int, f: list[Any]) -> Any:
        if op == _c.OP_RESULT:
            return f[0]
        if op == _c.OP_ERROR:
            raise self._error(f)
        raise _Malformed(f"unexpected message {op}")

    # -- host calls
    def _call_host(self, f: list[Any]) -> Any:
        """Run a host function; answer the child unless the result is awaitable
        (then return it)."""
        cid, fid, args = f
        fn = self._funcs[fid]
        try:
            r = fn(*args)
        except Exception as exc:
            self._raise_to_child(_c.OP_RAISE, cid, exc)
            return None
        if type(r) not in _PLAIN and inspect.isawaitable(r):
            return r
        try:
            self._send(_c.OP_RETURN, [cid, r])
        except (TypeError, ValueError) as exc:
            self._raise_to_child(_c.OP_RAISE, cid, exc)
        return None

    def _raise_to_child(self, op: int, cid: int, exc: BaseException) -> None:
        self._host_errors[cid] = exc
        try:
            msg = str(exc)
        except Exception:
            msg = ""
        self._send(op, [cid, type(exc).__name__, msg])

    # -- requests (sync)
    def _request(
        self,
        op: int,
        fields: list[Any] | None,
        timeout: Any,
        replay: bool = True,
        frame: bytes | None = None,
    ) -> Any:
        """Send ``fields`` (or the encoded ``frame``) and wait for the answer."""
        with self._lock:
            self._ensure()
            if self._host_errors:
                self._host_errors.clear()
            deadline = self._deadline(timeout)
            try:
                if frame is not None:
                    assert self._sock is not None
                    self._sock.sendall(frame)
                else:
                    assert fields is not None
                    self._send(op, fields)
                while True:
                    rop, f = self._recv_sync(deadline)
                    if rop == _c.OP_CALL:
                        r = self._call_host(f)
                        if r is not None:
                            if inspect.iscoroutine(r):
                                r.close()
                            self._raise_to_child(_c.OP_RAISE, f[0], RuntimeError(_ASYNC_NEEDS_LOOP))
                        continue
                    return self._finish(rop, f)
            except BaseException as exc:
                err = self._request_failure(exc)
                if err is exc:
                    raise
                raise err from None

    # -- requests (async)
    async def _request_async(self, op: int, fields: list[Any], timeout: Any) -> Any:
        loop = asyncio.get_running_loop()
        if self._alock is None or self._alock_loop is not loop:
            self._alock, self._alock_loop = asyncio.Lock(), loop
        async with self._alock:
            if not self._lock.acquire(blocking=False):
                raise RuntimeError("the Sandbox is in use by another thread or a host function")
            try:
                return await self._request_async_locked(loop, op, fields, timeout)
            finally:
                self._lock.release()

    # -- the event-loop reader. A pool worker's reader stays registered from one run to
    # the next when the next was sent ahead (saves a register and an unregister per run).
    def _on_readable(self) -> None:
        req = self._areq
        if req is not None:
            req.on_readable()
            return
        # between two runs: keep what arrives for the next one
        try:
            data = os.read(self._rfd, 65536)
        except OSError:
            data = b""
        if not data:
            self._r_eof = True
        else:
            self._buf += data
            if len(self._buf) <= self._max_message + 5:
                return
        self._drop_reader()  # the next run reads the rest (or meets the end)

    def _drop_reader(self) -> None:
        loop = self._rl
        if loop is not None:
            self._rl = None
            if not loop.is_closed():
                loop.remove_reader(self._rfd)

    def _settle_reader(self, loop: asyncio.AbstractEventLoop) -> None:
        """After a request on ``loop``: keep the reader for the pool run already sent
        to this child, else unregister it."""
        if self._rl is not loop or self._areq is not None:
            return
        q = self._queued
        if (
            q is not None
            and q.sent
            and q.gen == self._gen == self._rgen
            and self._sock is not None
            and not self._closed
        ):
            return
        self._drop_reader()

    async def _request_async_locked(
        self, loop: asyncio.AbstractEventLoop, op: int, fields: list[Any] | None, timeout: Any
    ) -> Any:
        """``fields`` None: the request was sent already (a pipelined pool run)."""
        self._ensure()
        if self._host_errors:
            self._host_errors.clear()
        deadline = self._deadline(timeout)
        sock = self._sock
        assert sock is not None
        fd = sock.fileno()
        req = _AsyncRequest(self, loop, fd)
        done = req.done
        timer = None
        if deadline is not None:
            timer = loop.call_at(loop.time() + max(0.0, deadline - time.monotonic()), req.expire)
        try:
            if fields is not None:
                self._send(op, fields)
            if self._rl is not None and (self._rgen != self._gen or self._rfd != fd):
                self._drop_reader()  # left for a child that is gone
            if self._rl is None:
                loop.add_reader(fd, self._on_readable)
                self._rl, self._rfd, self._rgen = loop, fd, self._gen
            self._areq = req
            self._inflight = (loop, done)
            try:
                if self._buf:
                    req.drain()
                if self._r_eof and not done.done():
                    raise _Eof()  # the child closed its end after what was read
                rop, f = await done
            finally:
                self._inflight = None
                self._areq = None
                self._settle_reader(loop)
            if rop == _c.OP_RESULT:
                return f[0]
            return self._finish(rop, f)
        except BaseException as exc:
            err = self._request_failure(exc)
            if err is exc:
                raise
            raise err from None
        finally:
            if timer is not None:
                timer.cancel()
            if req.tasks:
                for t in list(req.tasks):
                    t.cancel()

    # -- the public surface
    @property
    def globals(self) -> _Globals:
        """Set (``sb.globals[name] = value``), read and delete globals of the context.
        Values and host callables (sync or async) are accepted."""
        return _Globals(self)

    def _set_global(self, name: str, value: Any) -> None:
        if not isinstance(name, str):
            raise TypeError("global names must be str")
        self._request(_c.OP_SET, [name, value], _DEFAULT)
        self._replay[name] = value

    def function(self, fn: Any = None, *, name: str | None = None) -> Any:
        """Expose a Python callable as a global JS function (a decorator), as
        ``Context.function`` does."""

        def deco(f: Any) -> Any:
            self._set_global(name or f.__name__, f)
            return f

        return deco if fn is None else deco(fn)

    def eval(
        self,
        code: str,
        *,
        filename: str = "<eval>",
        module: bool = False,
        timeout: float | None = _DEFAULT,
    ) -> Any:
        """Evaluate ``code`` in the child; returns the converted completion value."""
        if type(code) is str and type(filename) is str and type(module) is bool:
            # the same code again (a loop, a poll): its request is encoded once
            key = (code, filename, module, timeout)
            frame = self._eval_frames.get(key)
            if frame is None:
                fields = [code, filename, module, _t(timeout), False, False, None]
                frame = bytes(_wire.encode_frame(_c.OP_EVAL, fields))
                if len(frame) <= 4096:
                    if len(self._eval_frames) >= 64:
                        del self._eval_frames[next(iter(self._eval_frames))]
                    self._eval_frames[key] = frame
            return self._request(_c.OP_EVAL, None, timeout, frame=frame)
        return self._request(
            _c.OP_EVAL,
            [_check_code(code), filename, module, _t(timeout), False, False, None],
            timeout,
        )

    async def eval_async(
        self,
        code: str,
        *,
        filename: str = "<eval>",
        module: bool = False,
        timeout: float | None = _DEFAULT,
    ) -> Any:
        """Evaluate with top-level ``await``; async host functions run on this loop."""
        return await self._request_async(
            _c.OP_EVAL,
            [_check_code(code), filename, module, _t(timeout), True, False, None],
            timeout,
        )

    async def _run_fresh(
        self,
        code: Any,
        globs: Mapping[str, Any] | None,
        filename: str,
        timeout: Any,
        module: bool,
        snapshots: Mapping[str, bytes] | None = None,
    ) -> Any:
        # A pool holds its worker (no per-sandbox asyncio lock). It may hand a worker
        # a second run while the first is in progress (same event loop): that run
        # waits for its turn here, and its request is sent as soon as the answer of
        # the first arrives, so the child does not wait for this process between runs.
        fields = _fresh_fields(code, globs, filename, timeout, module, snapshots, True)
        loop = asyncio.get_running_loop()
        prev = self._turn
        mine = _Turn()
        self._turn = mine
        sent = False
        try:
            if prev is not None and not prev.ended:
                q = None
                try:
                    q = _QueuedRun(fields, self)
                    self._queued = q
                    wake: asyncio.Future[None] = loop.create_future()
                    prev.waiter = wake
                    await wake
                except BaseException:
                    if self._turn is mine:
                        self._turn = prev  # out of the line: a later run waits for prev
                    if q is not None and q.sent and q.gen == self._gen and self._sock is not None:
                        self._kill()  # the child started this run: stop it, as a cancel does
                    raise
                finally:
                    if q is not None and self._queued is q:
                        self._queued = None
                sent = q.sent and q.gen == self._gen and self._sock is not None
            if not self._lock.acquire(blocking=False):
                raise RuntimeError("the Sandbox is in use by another thread or a host function")
            try:
                return await self._request_async_locked(
                    loop, _c.OP_EVAL, None if sent else fields, timeout
                )
            finally:
                self._lock.release()
        finally:
            self._settle_reader(loop)
            if self._turn is mine:
                self._turn = None
            mine.end()

    def _run_fresh_sync(
        self,
        code: Any,
        globs: Mapping[str, Any] | None,
        filename: str,
        timeout: Any,
        module: bool,
        snapshots: Mapping[str, bytes] | None = None,
    ) -> Any:
        return self._request(
            _c.OP_EVAL,
            _fresh_fields(code, globs, filename, timeout, module, snapshots, False),
            timeout,
        )

    def compile(
        self, code: str, *, filename: str = "<script>", module: bool = False
    ) -> SandboxScript:
        """Compile in the child (syntax errors raise here); run with ``script.run()``."""
        sid = len(self._scripts) + 1
        self._scripts[sid] = (_check_code(code), filename, module)
        self._compile(sid)
        return SandboxScript(self, sid, code, filename, module)

    def _compile(self, sid: int) -> None:
        code, filename, module = self._scripts[sid]
        self._request(_c.OP_COMPILE, [sid, code, filename, module], _DEFAULT)
        self._compiled.add(sid)

    def _script_ref(self, script: Any) -> Any:
        if isinstance(script, qjs.Script):
            return script.to_bytes()  # made by this process: trusted, sent to the child
        if isinstance(script, SandboxScript) and script.sandbox is self:
            with self._lock:
                self._ensure()
                if script._sid not in self._compiled:
                    self._compile(script._sid)
            return script._sid
        raise TypeError("run() takes a qjs.Script or a SandboxScript of this Sandbox")

    def run(self, script: Any, *, timeout: float | None = _DEFAULT) -> Any:
        """Run a :class:`qjs.Script` (compiled in this process) or a SandboxScript."""
        return self._request(_c.OP_RUN, [self._script_ref(script), _t(timeout), False], timeout)

    async def run_async(self, script: Any, *, timeout: float | None = _DEFAULT) -> Any:
        """Like ``run``, awaiting a promise result; async host functions available."""
        return await self._request_async(
            _c.OP_RUN, [self._script_ref(script), _t(timeout), True], timeout
        )

    def dumps(self, value: Any) -> bytes:
        """A snapshot (``Context.dumps``) made in the child. Its bytes came from the
        child: load them only into sandboxes, or treat them as untrusted input."""
        r = self._request(_c.OP_DUMPS, [value], _DEFAULT)
        if type(r) is not bytes:
            raise self._malformed(_Malformed("dumps did not return bytes"))
        return r

    def loads(self, data: bytes, *, name: str | None = None) -> Any:
        """Restore a snapshot in the child. Returns the value converted, or with
        ``name`` stores it as that global (any snapshot-able value) and returns None."""
        return self._request(_c.OP_LOADS, [bytes(data), name], _DEFAULT)


def _fresh_fields(
    code: Any,
    globs: Mapping[str, Any] | None,
    filename: str,
    timeout: Any,
    module: bool,
    snapshots: Mapping[str, bytes] | None,
    is_async: bool,
) -> list[Any]:
    if isinstance(code, qjs.Script):
        code = code.to_bytes()  # made by this process: trusted, sent to the child
    else:
        code = _check_code(code)
    snaps = {k: bytes(v) for k, v in snapshots.items()} if snapshots else None
    return [code, filename, module, _t(timeout), is_async, True, dict(globs or {}), snaps]


def _add_note(exc: BaseException, note: str) -> None:
    notes = getattr(exc, "__notes__", None)
    if not isinstance(notes, list):
        notes = []
        try:
            exc.__notes__ = notes  # what add_note does (Python 3.11+)
        except AttributeError:  # pragma: no cover
            return
    notes.append(note)


def _t(timeout: Any) -> Any:
    return _c.NO_TIMEOUT if timeout is _DEFAULT else timeout


def _check_code(code: Any) -> str:
    if not isinstance(code, str):
        raise TypeError(f"code must be str, not {type(code).__name__}")
    return str.__str__(code)


async def _as_coroutine(aw: Awaitable[Any]) -> Any:
    return await aw


def _attach_frames(exc: BaseException, frames: list[Any]) -> None:
    make = getattr(qjs, "Frame", None)
    if make is None or not frames:
        return
    out = []
    try:
        for fr in frames:
            function, filename, line, column, loc = fr
            out.append(
                make(function=function, filename=filename, line=line, column=column, locals=loc)
            )
        exc.frames = out  # type: ignore[attr-defined]
    except Exception:
        pass


def _validate(op: int, f: list[Any], funcs: Mapping[int, Any]) -> None:
    """Check a message from the child has the fields its opcode promises."""
    n = len(f)
    if op == _c.OP_RESULT:
        if n != 1:
            raise _Malformed("result")
    elif op == _c.OP_CALL:
        if n != 3 or type(f[0]) is not int or type(f[1]) is not int or type(f[2]) is not list:
            raise _Malformed("call")
        if f[1] not in funcs:
            raise _Malformed("call of an unknown host function")
    elif op == _c.OP_ERROR:
        if (
            n != 8
            or not all(type(x) is str for x in f[:4])
            or type(f[5]) is not list
            or not (f[6] is None or type(f[6]) is int)
            or type(f[7]) is not list
            or not all(type(x) is str for x in f[7])
        ):
            raise _Malformed("error")
        for fr in f[5]:
            if (
                type(fr) is not list
                or len(fr) != 5
                or type(fr[0]) is not str
                or type(fr[1]) is not str
                or type(fr[2]) is not int
                or type(fr[3]) is not int
                or not (fr[4] is None or type(fr[4]) is dict)
            ):
                raise _Malformed("error frame")
    elif op == _c.OP_READY:
        if n != 1 or type(f[0]) is not int:
            raise _Malformed("ready")
    else:
        raise _Malformed(f"unknown message type {op}")


# ---------------------------------------------------------------- the pool


_PIPELINE = 2  # async runs a pool worker holds at once: one running, one sent ahead


class SandboxPool:
    """``size`` warm Sandboxes; each ``run`` gets a fresh context in one of them.

    ``run`` waits while every worker is busy (at most ``max_waiting`` callers wait;
    beyond that it raises ``qjs.Error``). A worker whose child crashed or was killed
    is restarted before its next run. ``close()`` (or ``async with``) stops them all.
    """

    def __init__(
        self, size: int = 2, *, max_waiting: int | None = None, **sandbox_options: Any
    ) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self.max_waiting = max_waiting
        self._options = sandbox_options
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._idle: collections.deque[Sandbox] = collections.deque()
        self._waiters: collections.deque[
            tuple[asyncio.AbstractEventLoop, asyncio.Future[Sandbox]]
        ] = collections.deque()
        self._sync_waiting = 0
        self._workers: list[Sandbox] = []
        self._closed = False
        try:
            for _ in range(size):
                w = Sandbox(**sandbox_options)
                self._workers.append(w)
                self._idle.append(w)
        except BaseException:
            self.close()
            raise

    @property
    def closed(self) -> bool:
        return self._closed

    def _waiting(self) -> int:
        # a run sent ahead to a busy worker waits too (for the run before it)
        ahead = sum(w._pool_jobs - 1 for w in self._workers if w._pool_jobs > 1)
        return len(self._waiters) + self._sync_waiting + ahead

    def _check_room(self) -> None:
        if self._closed:
            raise _errors.ClosedError("the SandboxPool is closed")
        if self.max_waiting is not None and self._waiting() >= self.max_waiting:
            raise _errors.Error(f"SandboxPool: {self._waiting()} callers already waiting")

    def _take(self, loop: asyncio.AbstractEventLoop | None) -> Sandbox | None:
        """An idle worker; else (async) one busy on ``loop`` with room for a run
        sent ahead. The caller holds the lock."""
        if self._idle:
            w = self._idle.popleft()
            w._pool_jobs, w._pool_loop = 1, loop
            return w
        if loop is not None:
            for w in self._workers:
                if w._pool_loop is loop and 0 < w._pool_jobs < _PIPELINE:
                    w._pool_jobs += 1
                    return w
        return None

    async def _acquire(self) -> Sandbox:
        loop = asyncio.get_running_loop()
        with self._lock:
            self._check_room()
            w = self._take(loop)
            if w is not None:
                return w
            fut: asyncio.Future[Sandbox] = loop.create_future()
            self._waiters.append((loop, fut))
        try:
            return await fut
        except BaseException:
            with self._lock:
                try:
                    self._waiters.remove((loop, fut))
                except ValueError:
                    pass
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._release(fut.result())
            raise

    def _acquire_sync(self) -> Sandbox:
        with self._cond:
            self._check_room()
            self._sync_waiting += 1
            try:
                while not self._idle:
                    if self._closed:
                        raise _errors.ClosedError("the SandboxPool is closed")
                    self._cond.wait()
                w = self._take(None)
                assert w is not None
                return w
            finally:
                self._sync_waiting -= 1

    def _release(self, w: Sandbox) -> None:
        with self._lock:
            if self._closed:
                return
            w._pool_jobs -= 1
            if w._pool_jobs == 0:
                w._pool_loop = None
            while self._waiters and w._pool_jobs < _PIPELINE:
                if w._pool_jobs == 0:
                    loop, fut = self._waiters.popleft()
                else:  # busy: its free slot goes to a caller on the same loop
                    for i, (loop, fut) in enumerate(self._waiters):
                        if loop is w._pool_loop:
                            del self._waiters[i]
                            break
                    else:
                        return
                if fut.done() or loop.is_closed():
                    continue
                w._pool_jobs += 1
                w._pool_loop = loop
                if asyncio._get_running_loop() is loop:
                    fut.set_result(w)  # not done (checked above), and this is its loop
                else:
                    loop.call_soon_threadsafe(_hand_over, self, fut, w)
            if w._pool_jobs == 0:
                self._idle.append(w)
                self._cond.notify()

    async def run(
        self,
        code: Any,
        *,
        globals: Mapping[str, Any] | None = None,
        filename: str = "<eval>",
        timeout: float | None = None,
        module: bool = False,
        snapshots: Mapping[str, bytes] | None = None,
    ) -> Any:
        """Evaluate ``code`` (a str or a ``qjs.Script``) in a fresh context of an idle
        worker, as ``eval_async`` does. ``globals`` (values and host functions) are
        set first, and ``snapshots`` (``{name: Context.dumps(...) bytes}``) restored as
        globals in the child. ``timeout`` None uses the pool's ``timeout`` option."""
        w = await self._acquire()
        try:
            return await w._run_fresh(
                code, globals, filename, _DEFAULT if timeout is None else timeout, module, snapshots
            )
        finally:
            self._release(w)

    def run_sync(
        self,
        code: Any,
        *,
        globals: Mapping[str, Any] | None = None,
        filename: str = "<eval>",
        timeout: float | None = None,
        module: bool = False,
        snapshots: Mapping[str, bytes] | None = None,
    ) -> Any:
        """``run`` for code without asyncio (blocks; safe from many threads). Async
        host functions are not available here."""
        w = self._acquire_sync()
        try:
            return w._run_fresh_sync(
                code, globals, filename, _DEFAULT if timeout is None else timeout, module, snapshots
            )
        finally:
            self._release(w)

    def close(self) -> None:
        """Stop every worker; waiting callers get ClosedError."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            waiters = list(self._waiters)
            self._waiters.clear()
            self._idle.clear()
            self._cond.notify_all()
        for loop, fut in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_fail, fut)
        for w in self._workers:
            w.close()
        self._workers.clear()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> SandboxPool:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()


def _hand_over(pool: SandboxPool, fut: asyncio.Future[Sandbox], w: Sandbox) -> None:
    if fut.done():
        pool._release(w)
    else:
        fut.set_result(w)


def _fail(fut: asyncio.Future[Any]) -> None:
    _fail_closed(fut, "the SandboxPool is closed")


def _fail_closed(fut: asyncio.Future[Any], message: str) -> None:
    if not fut.done():
        fut.set_exception(_errors.ClosedError(message))
