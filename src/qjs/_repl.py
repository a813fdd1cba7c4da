"""The ``qjs`` REPL: line editing and history from the standard library's
``readline``, results shown as node shows them.

- input continues on ``... `` lines while the engine reports that it ended too
  early (a SyntaxError at the end of the input);
- history with up/down, kept in ``~/.qjs_history`` (``QJS_HISTORY`` names another
  file; ``QJS_HISTORY=""`` keeps none);
- Tab completes globals and properties (``obj.pr<Tab>``);
- ``.help``, ``.exit``, ``.load FILE``, ``.clear`` (drop a pending multi-line input);
- ``_`` holds the last result;
- Ctrl-C stops running code and keeps the context; at an empty prompt it says how
  to leave, and a second Ctrl-C (or Ctrl-D, or ``.exit``) leaves.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any

import qjs

HELP = """\
.exit      leave the REPL (also Ctrl-D, or Ctrl-C twice)
.help      this help
.load FILE run a file in this context
.clear     drop a pending multi-line input
Up/Down walk the history; Tab completes names and properties; _ is the last result."""

_COMPLETE_EXPR = re.compile(r"^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*$")
_DECLARED = re.compile(r"\b(?:let|const|var|function\*?|class)\s+([A-Za-z_$][\w$]*)")
_NAMES_JS = """(v) => {
  const out = new Set();
  for (let o = Object(v), i = 0; o !== null && i < 64; o = Object.getPrototypeOf(o), i++)
    for (const k of Object.getOwnPropertyNames(o)) out.add(k);
  return [...out];
}"""


def incomplete(exc: qjs.JSError, source: str) -> bool:
    """Whether a SyntaxError says that the input stopped too early (more lines
    may complete it), rather than that it is wrong."""
    if exc.name != "SyntaxError":
        return False
    if "unexpected end of" in exc.message:
        return True
    m = re.search(r":(\d+):(\d+)\)?\s*$", (exc.stack or "").strip().splitlines()[0]
                  if exc.stack else "")
    if not m:
        return False
    line, col = int(m.group(1)), int(m.group(2))
    lines = source.rstrip().splitlines() or [""]
    return (line, col) > (len(lines), len(lines[-1]))


class Completer:
    """readline completion: globals (and names declared in the session), or the
    properties of a dotted name."""

    def __init__(self, ctx: qjs.Context) -> None:
        self.ctx = ctx
        self.declared: set[str] = set()
        self.matches: list[str] = []

    def names(self, expr: str) -> list[str]:
        target = expr if expr else "globalThis"
        try:
            with self.ctx.eval_handle(_NAMES_JS, filename="<complete>", timeout=0.5) as fn:
                got = fn(self.ctx.eval_handle(target, filename="<complete>", timeout=0.5))
        except Exception:
            return []
        names = [n for n in got if isinstance(n, str)] if isinstance(got, list) else []
        if not expr:
            names.extend(self.declared)
        return names

    def complete(self, text: str, state: int) -> str | None:
        if state == 0:
            expr, _, prefix = text.rpartition(".")
            if expr and not _COMPLETE_EXPR.match(expr):
                self.matches = []
            else:
                head = expr + "." if expr else ""
                self.matches = sorted({head + n for n in self.names(expr)
                                       if n.startswith(prefix) and re.match(r"^[\w$]+$", n)})
        return self.matches[state] if state < len(self.matches) else None


class Repl:
    def __init__(self, ctx: qjs.Context, args: argparse.Namespace) -> None:
        from qjs.__main__ import Runner

        self.ctx = ctx
        self.args = args
        self.runner = Runner()
        self.sources: dict[str, str] = {}
        self.completer = Completer(ctx)
        self.readline: Any = None
        self.history_file: str | None = None
        self.counter = 0
        self.rejections: list[str] = []  # reported after the result, as node does
        self.colors = (sys.stdout.isatty() and "NO_COLOR" not in os.environ
                       and os.environ.get("TERM") != "dumb")

    # -- line editing and history ---------------------------------------------------

    def setup_readline(self) -> None:
        try:
            import readline
        except ImportError:  # no line editing on this platform: plain input()
            return
        self.readline = readline
        readline.set_completer(self.completer.complete)
        readline.set_completer_delims(" \t\n`~!@#%^&*()-=+[{]}\\|;:'\",<>/?")
        if "libedit" in (readline.__doc__ or ""):
            readline.parse_and_bind("bind ^I rl_complete")
        else:
            readline.parse_and_bind("tab: complete")
        path = os.environ.get("QJS_HISTORY")
        if path is None:
            path = os.path.join(os.path.expanduser("~"), ".qjs_history")
        if path:
            self.history_file = path
            try:
                readline.read_history_file(path)
            except OSError:
                pass
            readline.set_history_length(1000)

    def save_history(self) -> None:
        if self.readline is not None and self.history_file:
            try:
                self.readline.write_history_file(self.history_file)
            except OSError:
                pass

    # -- evaluation -------------------------------------------------------------------

    def evaluate(self, source: str, filename: str) -> qjs.Handle:
        from qjs._engine import _eval_async_handle  # type: ignore[attr-defined]

        self.sources[filename] = source
        text = source.strip()
        if text.startswith("{") and text.endswith("}"):
            # `{a: 1}` is an object, as in node's REPL (a block only if it cannot be one)
            try:
                return self.runner.run(  # type: ignore[no-any-return]
                    _eval_async_handle(self.ctx, f"({text})", filename))
            except qjs.JSError as exc:
                if exc.name != "SyntaxError":
                    raise
        return self.runner.run(_eval_async_handle(self.ctx, source, filename))  # type: ignore

    def show_error(self, exc: BaseException) -> None:
        from qjs.__main__ import describe, report, thrown_text

        if isinstance(exc, qjs.JSError) and not isinstance(
                exc, (qjs.InterruptedError, qjs.JSMemoryError, qjs.JSStackOverflowError)):
            sys.stderr.write("Uncaught " + thrown_text(exc) + "\n")
        elif isinstance(exc, qjs.Error):
            sys.stderr.write(describe(exc, self.args) + "\n")
        else:
            report(exc, self.args, self.sources)

    def run_input(self, source: str) -> bool:
        """Run one input; False if it is incomplete (nothing ran: the parser
        stopped at its end), to be continued by the next line."""
        try:
            return self._run_input(source)
        finally:
            sys.stdout.flush()
            for text in self.rejections:
                sys.stderr.write(f"Uncaught (in promise) {text}\n")
            self.rejections.clear()

    def _run_input(self, source: str) -> bool:
        self.counter += 1
        try:
            value = self.evaluate(source, f"REPL{self.counter}")
        except KeyboardInterrupt:
            sys.stderr.write("Interrupted (Ctrl-C): the script was stopped\n")
            return True
        except qjs.JSError as exc:
            if incomplete(exc, source):
                self.counter -= 1
                return False
            self.show_error(exc)
            return True
        except Exception as exc:
            self.show_error(exc)
            return True
        with value:
            try:
                self.ctx.globals["_"] = value
                print(qjs.inspect(value, colors=self.colors))
            except KeyboardInterrupt:
                sys.stderr.write("Interrupted (Ctrl-C)\n")
            except Exception as exc:
                self.show_error(exc)
        for name in _DECLARED.findall(source):
            self.completer.declared.add(name)
        return True

    def command(self, line: str) -> bool:
        """A dot command; False to leave."""
        cmd, _, rest = line.strip().partition(" ")
        if cmd == ".exit":
            return False
        if cmd == ".help":
            print(HELP)
        elif cmd == ".load":
            path = rest.strip()
            try:
                with open(path, encoding="utf-8") as f:
                    source = f.read()
            except OSError as exc:
                sys.stderr.write(f".load {path}: {exc.strerror}\n")
                return True
            if not self.run_input(source):
                sys.stderr.write(f".load {path}: the file ends too early\n")
        else:
            sys.stderr.write(f"unknown command {cmd}: .help lists them\n")
        return True

    def loop(self) -> int:
        print(f"Welcome to qjs {qjs.__version__} (QuickJS-ng {qjs.QUICKJS_VERSION}).\n"
              'Type ".help" for more information.')
        buffer: list[str] = []
        warned = False
        while True:
            try:
                line = input("... " if buffer else "> ")
            except EOFError:
                print()
                return 0
            except KeyboardInterrupt:
                print()
                if buffer:
                    buffer = []
                    warned = False
                    continue
                if warned:
                    return 0
                print("(To exit, press Ctrl+C again or Ctrl+D or type .exit)")
                warned = True
                continue
            warned = False
            if not buffer and line.strip().startswith("."):
                if line.strip() == ".clear":
                    continue
                if not self.command(line):
                    return 0
                continue
            if buffer and line.strip() == ".clear":
                buffer = []
                continue
            buffer.append(line)
            source = "\n".join(buffer)
            if not source.strip():
                buffer = []
                continue
            if self.run_input(source):
                buffer = []


def repl(ctx: qjs.Context, args: argparse.Namespace) -> int:
    r = Repl(ctx, args)

    def on_rejection(reason: Any) -> None:
        try:
            text = qjs.inspect(reason)
        except Exception:
            text = repr(reason)
        r.rejections.append(text)

    ctx.on_unhandled_rejection = on_rejection
    r.setup_readline()
    try:
        return r.loop()
    finally:
        r.save_history()
        r.runner.close()
