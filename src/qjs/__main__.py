"""The ``qjs`` command: run a JavaScript file, a snippet, or a REPL in a sandbox.

    qjs FILE [--module] [--memory-limit 64M] [--timeout 2] [--stack-limit 1M]
    qjs -e CODE
    qjs            (a REPL on a terminal; otherwise the program is read from stdin)

Prints the completion value (nothing for ``undefined``) after what
``console.log`` printed; an uncaught exception, a timeout or the memory limit
ends with a one-line error on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from typing import Any, Sequence

import qjs
from qjs._format import format_value

EXIT_ERROR = 1
EXIT_USAGE = 2

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:i?[bB])?\s*$")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(text: str) -> int:
    """``"64M"`` -> 67108864; plain numbers are bytes."""
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 65536, 512K, 64M, 1G)")
    n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if n <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive: {text!r}")
    return n


def parse_seconds(text: str) -> float:
    try:
        t = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not t > 0:
        raise argparse.ArgumentTypeError(f"timeout must be positive: {text!r}")
    return t


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qjs",
        description="Run JavaScript in a QuickJS-ng sandbox (no file, network or process access).",
    )
    p.add_argument("file", nargs="?", metavar="FILE", help="script to run ('-' for stdin)")
    p.add_argument("-e", "--eval", metavar="CODE", dest="code", help="evaluate CODE")
    p.add_argument("-m", "--module", action="store_true", help="treat the code as an ES module")
    p.add_argument("--memory-limit", type=parse_size, metavar="SIZE", help="heap limit, e.g. 64M")
    p.add_argument("--stack-limit", type=parse_size, metavar="SIZE", help="JS stack budget, e.g. 1M")
    p.add_argument("--timeout", type=parse_seconds, metavar="SECONDS", help="wall-clock limit")
    p.add_argument("-V", "--version", action="version",
                   version=f"qjs {qjs.__version__} (QuickJS-ng {qjs.QUICKJS_VERSION})")
    return p


def describe(exc: BaseException, args: argparse.Namespace) -> str:
    """One line for an error that ends the program."""
    if isinstance(exc, qjs.JSTimeoutError):
        return f"timeout: the script ran longer than {args.timeout:g} s"
    if isinstance(exc, qjs.JSMemoryError):
        limit = f" (limit {args.memory_limit} bytes)" if args.memory_limit else ""
        return f"out of memory{limit}"
    if isinstance(exc, qjs.JSStackOverflowError):
        return "stack overflow: Maximum call stack size exceeded"
    if isinstance(exc, qjs.JSError):
        where = ""
        for line in exc.stack.splitlines():
            line = line.strip()
            if line.startswith("at ") and not line.endswith("(native)"):
                where = f" ({line})"
                break
        head = f"{exc.name}: {exc.message}" if exc.name else exc.message
        return f"Uncaught {head}{where}"
    return f"{type(exc).__name__}: {exc}"


def run_source(ctx: qjs.Context, source: str, filename: str, module: bool) -> Any:
    return asyncio.run(ctx.eval_async(source, filename=filename, module=module))


def repl(ctx: qjs.Context, args: argparse.Namespace) -> int:
    print(f"qjs {qjs.__version__} (QuickJS-ng {qjs.QUICKJS_VERSION}); Ctrl-D to exit")
    while True:
        try:
            line = input("qjs> ")
        except EOFError:
            print()
            return 0
        except KeyboardInterrupt:
            print()
            continue
        if not line.strip():
            continue
        try:
            value = run_source(ctx, line, "<repl>", False)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            continue
        except qjs.Error as exc:
            print(describe(exc, args), file=sys.stderr)
            continue
        if value is not None:
            print(format_value(value))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.code is not None and args.file is not None:
        print("qjs: give either FILE or -e CODE, not both", file=sys.stderr)
        return EXIT_USAGE
    try:
        ctx = qjs.Context(
            memory_limit=args.memory_limit, stack_limit=args.stack_limit, timeout=args.timeout
        )
    except qjs.Error as exc:
        print(f"qjs: {exc}", file=sys.stderr)
        return EXIT_ERROR
    with ctx:
        if args.code is None and args.file is None and sys.stdin.isatty():
            return repl(ctx, args)
        if args.code is not None:
            source, filename = args.code, "<eval>"
        elif args.file in (None, "-"):
            source, filename = sys.stdin.read(), "<stdin>"
        else:
            try:
                with open(args.file, encoding="utf-8") as f:
                    source = f.read()
            except OSError as exc:
                print(f"qjs: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
                return EXIT_ERROR
            filename = args.file
        try:
            value = run_source(ctx, source, filename, args.module)
        except qjs.Error as exc:
            sys.stdout.flush()
            print(f"qjs: {describe(exc, args)}", file=sys.stderr)
            return EXIT_ERROR
        except Exception as exc:  # a host-side failure: still one line
            sys.stdout.flush()
            print(f"qjs: {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_ERROR
        if value is not None and not args.module:
            print(format_value(value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
