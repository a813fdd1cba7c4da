"""The ``qjs`` command: run a JavaScript file, a snippet, or a REPL in a sandbox.

    qjs FILE [ARGS...]   run a file (.mjs, or import/export inside: an ES module);
                         ARGS are in the global ``scriptArgs`` (after the file name)
    qjs -e CODE          run CODE, print its completion value unless undefined
    qjs -p CODE          run CODE, print its completion value (like node -p)
    qjs                  a REPL on a terminal; otherwise the program is read from stdin

Values are printed the way node prints them (``qjs.inspect``). An uncaught
exception prints where it was thrown and its stack, and exits with 1; a timeout
or the memory limit end with one line and exit 1; Ctrl-C exits with 130; usage
errors exit with 2.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any, NoReturn, Sequence

import qjs

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: The smallest --memory-limit accepted: a context with its console needs about
#: 400K to start, and a script needs room to run.
MIN_MEMORY_LIMIT = 1 << 20

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:i?[bB])?\s*$")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
# "    at f (file:1:2)" or "    at file:1:2"
_MODULE_SYNTAX = re.compile(
    r"(?m)^[ \t]*(?:import[ \t]*(?:[\w$*{'\"]|\.meta)|export[ \t]+(?:default|const|let|var|"
    r"function|class|async|\{|\*))|\bimport\.meta\b")
_FRAME = re.compile(r"^\s*at (?:.*? \()?(.+?):(\d+):(\d+)\)?\s*$")


def parse_size(text: str) -> int:
    """``"64M"`` -> 67108864; plain numbers are bytes."""
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 512K, 64M, 1G)")
    n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if n <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive: {text!r}")
    return n


def parse_memory_limit(text: str) -> int:
    n = parse_size(text)
    if n < MIN_MEMORY_LIMIT:
        raise argparse.ArgumentTypeError(
            f"{text!r} is {n} bytes, below the minimum of 1M (a context needs about 400K "
            "to start; sizes take a unit: 512K, 64M, 1G)")
    return n


def parse_seconds(text: str) -> float:
    try:
        t = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not t > 0:
        raise argparse.ArgumentTypeError(f"timeout must be positive: {text!r}")
    return t


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Usage errors: one line on stderr, exit status 2."""
        self.exit(EXIT_USAGE, f"qjs: {message} (qjs --help for usage)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="qjs",
        description="Run JavaScript in a QuickJS-ng sandbox (no network or process access; "
                    "imports only from the script's folder).",
    )
    p.add_argument("file", nargs="?", metavar="FILE", help="script to run ('-' for stdin)")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                   help="arguments for the script, in the global scriptArgs")
    p.add_argument("-e", "--eval", metavar="CODE", dest="code",
                   help="evaluate CODE; print its value unless undefined")
    p.add_argument("-p", "--print", metavar="CODE", dest="print_code",
                   help="evaluate CODE and print its value")
    p.add_argument("-m", "--module", action="store_true",
                   help="treat the code as an ES module (automatic for .mjs and for files "
                        "with import/export)")
    p.add_argument("--memory-limit", type=parse_memory_limit, metavar="SIZE",
                   help="heap limit, e.g. 64M (at least 1M)")
    p.add_argument("--stack-limit", type=parse_size, metavar="SIZE", help="JS stack budget, e.g. 1M")
    p.add_argument("--timeout", type=parse_seconds, metavar="SECONDS", help="wall-clock limit")
    p.add_argument("--allow-read", action="append", default=[], metavar="DIR",
                   help="also allow imports from DIR (repeatable)")
    p.add_argument("-V", "--version", action="version",
                   version=f"qjs {qjs.__version__} (QuickJS-ng {qjs.QUICKJS_VERSION})")
    return p


# -- modules from the filesystem --------------------------------------------------


class FileModules:
    """The module loader of the command line: ``import`` reads files under the
    allowed folders (the script's folder, and each ``--allow-read DIR``)."""

    def __init__(self, roots: Sequence[str], cwd: str) -> None:
        self.roots = [os.path.realpath(r) for r in roots]
        self.cwd = cwd
        self.sources: dict[str, str] = {}

    def _allowed(self, path: str) -> bool:
        real = os.path.realpath(path)
        return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in self.roots)

    def normalize(self, base: str, name: str) -> str:
        if not (name.startswith("./") or name.startswith("../") or os.path.isabs(name)):
            raise ImportError(f"cannot import {name!r}: only relative ('./x.js') and absolute "
                              "paths are supported")
        if os.path.isabs(name):
            path = name
        else:
            folder = os.path.dirname(base) if os.path.isabs(base) else self.cwd
            path = os.path.join(folder, name)
        path = os.path.normpath(path)
        if not self._allowed(path):
            allowed = ", ".join(self.roots)
            raise ImportError(f"cannot import {name!r}: {path} is outside the allowed folders "
                              f"({allowed}); use --allow-read DIR to allow more")
        return path

    def load(self, name: str) -> str | None:
        if not self._allowed(name):
            raise ImportError(f"cannot import {name!r}: outside the allowed folders")
        try:
            with open(name, encoding="utf-8") as f:
                source = f.read()
        except FileNotFoundError:
            raise ImportError(f"cannot import {name!r}: no such file") from None
        except OSError as exc:
            raise ImportError(f"cannot import {name!r}: {exc.strerror}") from None
        self.sources[name] = source
        return source


# -- reporting ----------------------------------------------------------------------


def _location(exc: qjs.JSError, sources: dict[str, str]) -> str:
    """``file:line:col``, the source line and a caret under the column, for the
    innermost frame whose source is known; '' if there is none."""
    for line in (exc.stack or "").splitlines():
        m = _FRAME.match(line)
        if not m:
            continue
        filename, lineno, col = m.group(1), int(m.group(2)), int(m.group(3))
        text = sources.get(filename)
        if text is None:
            continue
        lines = text.splitlines()
        if not 1 <= lineno <= len(lines):
            return f"{filename}:{lineno}:{col}\n"
        src = lines[lineno - 1].expandtabs(1)
        caret = " " * max(col - 1, 0) + "^"
        return f"{filename}:{lineno}:{col}\n{src}\n{caret}\n"
    return ""


def looks_like_module(ctx: qjs.Context, source: str) -> bool:
    """Whether a .js file is an ES module: it has import/export statements (or
    import.meta) that a script could not hold."""
    if not _MODULE_SYNTAX.search(source):
        return False
    try:
        ctx.compile(source, filename="<detect>")
    except qjs.JSError:
        return True
    return False


def thrown_text(exc: qjs.JSError) -> str:
    """What was thrown, as node shows it."""
    value = exc.value
    if value is None and exc.name == "":
        return exc.message  # 'undefined' or 'null'
    if isinstance(value, qjs.Handle) and value.alive:
        try:
            return qjs.inspect(value)
        except qjs.Error:
            pass
    elif value is not None or exc.name == "":
        try:
            return qjs.inspect(value)
        except Exception:
            pass
    head = f"{exc.name}: {exc.message}" if exc.name else exc.message
    return head + ("\n" + exc.stack.rstrip() if exc.stack else "")


def describe(exc: BaseException, args: argparse.Namespace) -> str:
    """One line for a limit that ended the program."""
    if isinstance(exc, qjs.JSTimeoutError):
        return f"timeout: the script ran longer than {args.timeout:g} s"
    if isinstance(exc, qjs.JSMemoryError):
        limit = f" (limit {args.memory_limit} bytes)" if args.memory_limit else ""
        return f"out of memory{limit}"
    if isinstance(exc, qjs.JSStackOverflowError):
        return "stack overflow: Maximum call stack size exceeded"
    if isinstance(exc, qjs.InterruptedError):
        return "interrupted"
    return f"{type(exc).__name__}: {exc}"


def report(exc: BaseException, args: argparse.Namespace, sources: dict[str, str]) -> None:
    sys.stdout.flush()
    if isinstance(exc, qjs.JSError) and not isinstance(
            exc, (qjs.InterruptedError, qjs.JSMemoryError, qjs.JSStackOverflowError)):
        sys.stderr.write(_location(exc, sources) + (
            "\n" if _location(exc, sources) else "") + "Uncaught " + thrown_text(exc) + "\n")
    elif isinstance(exc, qjs.Error):
        sys.stderr.write(f"qjs: {describe(exc, args)}\n")
    else:  # a host-side failure: still one line
        sys.stderr.write(f"qjs: {type(exc).__name__}: {exc}\n")


def show(value: Any) -> str:
    """A completion value as ``node -p`` prints it: strings as they are."""
    if isinstance(value, qjs.Handle) and value.typeof == "string":
        return str(value.to_python())
    return qjs.inspect(value)


# -- running --------------------------------------------------------------------------


class Runner:
    """One event loop for the whole program, without asyncio.run's SIGINT
    handler: Ctrl-C reaches the running JS at once as KeyboardInterrupt."""

    def __init__(self) -> None:
        import asyncio

        self.asyncio = asyncio
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Any) -> Any:
        task = self.loop.create_task(coro)
        try:
            return self.loop.run_until_complete(task)
        except BaseException:
            if not task.done():
                task.cancel()
                try:
                    self.loop.run_until_complete(task)
                except BaseException:
                    pass
            raise

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()


def make_context(args: argparse.Namespace, modules: FileModules) -> qjs.Context:
    rt = qjs.Runtime(memory_limit=args.memory_limit, stack_limit=args.stack_limit,
                     timeout=args.timeout)
    rt.set_module_loader(modules.load, modules.normalize)
    return rt.new_context()


def _unhandled(sink: list[str]) -> Any:
    def on_rejection(reason: Any) -> None:
        try:
            text = qjs.inspect(reason)
        except Exception:
            text = repr(reason)
        sys.stdout.flush()
        sys.stderr.write(f"Uncaught (in promise) {text}\n")
        sink.append(text)
    return on_rejection


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code = args.code if args.code is not None else args.print_code
    if args.code is not None and args.print_code is not None:
        print("qjs: give either -e CODE or -p CODE, not both", file=sys.stderr)
        return EXIT_USAGE
    script_args = list(args.args)
    if code is not None and args.file is not None:
        script_args.insert(0, args.file)
        args.file = None
    cwd = os.getcwd()
    if args.file not in (None, "-"):
        path = os.path.abspath(args.file)
        roots = [os.path.dirname(path)]
    else:
        path = None
        roots = [cwd]
    for d in args.allow_read:
        if not os.path.isdir(d):
            print(f"qjs: --allow-read {d}: not a folder", file=sys.stderr)
            return EXIT_USAGE
        roots.append(os.path.abspath(d))
    modules = FileModules(roots, cwd)
    try:
        ctx = make_context(args, modules)
    except qjs.Error as exc:
        print(f"qjs: cannot start: {exc}", file=sys.stderr)
        return EXIT_ERROR
    rt = ctx.runtime
    try:
        with rt, ctx:
            ctx.globals["scriptArgs"] = [args.file or (code is not None and "-e") or "-",
                                         *script_args]
            if code is None and args.file is None and sys.stdin.isatty():
                from qjs._repl import repl

                return repl(ctx, args)
            return run_program(ctx, args, code, path, modules)
    except KeyboardInterrupt:
        sys.stdout.flush()
        print("qjs: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def run_program(ctx: qjs.Context, args: argparse.Namespace, code: str | None,
                path: str | None, modules: FileModules) -> int:
    from qjs._engine import _eval_async_handle  # type: ignore[attr-defined]

    if code is not None:
        source, filename = code, "<eval>"
    elif path is None:
        source, filename = sys.stdin.read(), "<stdin>"
    else:
        try:
            with open(path, encoding="utf-8") as f:
                source = f.read()
        except OSError as exc:
            print(f"qjs: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return EXIT_ERROR
        filename = path
    module = args.module or filename.endswith(".mjs") or (
        not filename.endswith(".cjs") and looks_like_module(ctx, source))
    modules.sources[filename] = source
    rejections: list[str] = []
    ctx.on_unhandled_rejection = _unhandled(rejections)
    runner = Runner()
    try:
        if module:
            runner.run(ctx.eval_async(source, filename=filename, module=True))
            value = None
        else:
            value = runner.run(_eval_async_handle(ctx, source, filename))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        if not isinstance(exc, Exception):
            raise
        report(exc, args, modules.sources)
        return EXIT_ERROR
    finally:
        runner.close()
    if value is not None:
        try:
            with value:
                if args.print_code is not None or value.typeof != "undefined":
                    print(show(value))
        except qjs.Error as exc:
            report(exc, args, modules.sources)
            return EXIT_ERROR
    sys.stdout.flush()
    return EXIT_ERROR if rejections else 0


if __name__ == "__main__":
    sys.exit(main())
