"""``pheme eval``: evaluate a ``${{ }}`` expression the way GitHub would.

Two modes:

* ``pheme eval EXPR [--contexts FILE] [--event PAYLOAD]`` prints one JSON line
  ``{"kind": K, "value": V}``; an expression error prints
  ``{"error": {"kind": …, "message": …}}`` and exits 1.
* ``pheme eval --jsonl`` reads ``{"expr": …, "contexts": {…}}`` objects, one per
  stdin line, and writes one result line per input, in order. As in GitHub's
  conformance data, the names in ``contexts`` are the only named values the
  expression may use. This is the bulk path (tens of thousands of lines per
  second), so it does no Typer/Rich work per line: bytes in, ``json.loads``,
  cached parse, evaluate, compact ``json.dumps``, buffered bytes out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, Final

import typer

__all__ = ["register", "run_jsonl"]

# The contexts GitHub defines; single-expression mode allows these plus any given.
KNOWN_CONTEXTS: Final = frozenset(
    {"github", "env", "vars", "secrets", "job", "jobs", "steps", "runner", "strategy", "matrix", "needs", "inputs"}
)
_EXTRA_FUNCTIONS: Final = frozenset({"success", "failure", "always", "cancelled", "hashFiles"})


def _plain_number(value: Any) -> Any:
    """Integral floats print as integers (``16``, not ``16.0``)."""
    if type(value) is float and value.is_integer() and -(2.0**53) <= value <= 2.0**53:
        return int(value)
    return value


def _load_json_file(path: Path, what: str) -> Any:
    from pheme.errors import UsageError

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}:{exc.colno}: {what} is not valid JSON: {exc.msg}") from None


def _build_contexts(contexts_file: Path | None, event_file: Path | None, event_name: str | None) -> dict[str, Any]:
    from pheme.errors import UsageError

    contexts: dict[str, Any] = {}
    if contexts_file is not None:
        loaded = _load_json_file(contexts_file, "the contexts file")
        if not isinstance(loaded, dict):
            raise UsageError(f"{contexts_file}: the contexts file must hold a JSON object of context name → value")
        contexts = loaded
    if event_file is not None or event_name is not None:
        github = contexts.get("github", {})
        if not isinstance(github, dict):
            raise UsageError("the 'github' context must be an object to add the event to it")
        github = dict(github)
        if event_file is not None:
            github["event"] = _load_json_file(event_file, "the event payload")
        if event_name is not None:
            github["event_name"] = event_name
        else:
            github.setdefault("event_name", "push")
        contexts["github"] = github
    return contexts


def _body(text: str) -> str | None:
    """The expression in ``text`` (with or without ``${{ }}``), or None when it is a template."""
    if "${{" not in text:
        return text
    from pheme.core.expr import TemplateExpr, split_template

    parts = split_template(text.strip())
    if len(parts) == 1 and isinstance(parts[0], TemplateExpr):
        return parts[0].source
    return None


def _evaluate_one(expression: str, contexts: dict[str, Any]) -> tuple[dict[str, Any], int]:
    from pheme.core.expr import EvalContext, evaluate, kind_of, parse, render, split_template
    from pheme.errors import ExpressionError

    ctx = EvalContext(contexts=contexts)
    allowed = KNOWN_CONTEXTS | contexts.keys()
    try:
        body = _body(expression)
        if body is None:
            # Literal text around expressions: a template, whose value is a string.
            for part in split_template(expression):
                if not isinstance(part, str):
                    parse(part.source, contexts=allowed, functions=_EXTRA_FUNCTIONS)
            value: Any = render(expression, ctx)
        else:
            value = evaluate(parse(body, contexts=allowed, functions=_EXTRA_FUNCTIONS), ctx)
    except ExpressionError as exc:
        return {"error": {"kind": exc.kind, "message": exc.full_message()}}, 1
    return {"kind": kind_of(value), "value": _plain_number(value)}, 0


def run_jsonl(lines: Iterable[bytes], out: IO[bytes]) -> int:
    """Evaluate one JSON request per line; write one JSON result per line. Returns the line count.

    The cyclic garbage collector is paused while lines stream through (and run
    every 50,000 lines instead): the parse cache keeps thousands of compiled
    expressions alive, and re-scanning them on every allocation burst cost
    more than the evaluation itself. Evaluation creates no reference cycles.
    """
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        return _run_jsonl(lines, out)
    finally:
        if enabled:
            gc.enable()


def _run_jsonl(lines: Iterable[bytes], out: IO[bytes]) -> int:
    import gc

    from pheme.core.expr import EvalContext, evaluate, kind_of, parse
    from pheme.errors import ExpressionError

    loads = json.loads
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    extra = _EXTRA_FUNCTIONS
    buffer: list[str] = []
    count = 0

    def bad_input(message: str) -> str:
        return dumps({"error": {"kind": "input", "message": message}})

    for line in lines:
        if not line.strip():
            continue
        count += 1
        try:
            request = loads(line)
        except ValueError as exc:
            buffer.append(bad_input(f"line {count}: not valid JSON: {exc}"))
            continue
        text = request.get("expr") if type(request) is dict else None
        if type(text) is not str:
            buffer.append(bad_input(f"line {count}: expected an object with a string 'expr'"))
            continue
        contexts = request.get("contexts")
        if contexts is None:
            contexts = {}
        elif type(contexts) is not dict:
            buffer.append(bad_input(f"line {count}: 'contexts' must be an object"))
            continue
        try:
            if "${{" in text:
                text = _body(text) or text  # a template here is a syntax error, reported by parse
            value = evaluate(parse(text, contexts=frozenset(contexts), functions=extra), EvalContext(contexts))
            buffer.append(dumps({"kind": kind_of(value), "value": _plain_number(value)}))
        except ExpressionError as exc:
            buffer.append(dumps({"error": {"kind": exc.kind, "message": exc.full_message()}}))
        except Exception as exc:  # a bug must not take the other lines down with it
            buffer.append(dumps({"error": {"kind": "internal", "message": f"{type(exc).__name__}: {exc}"}}))
        if len(buffer) >= 4096:
            out.write(("\n".join(buffer) + "\n").encode("utf-8"))
            buffer.clear()
        if count % 50_000 == 0:
            gc.collect()
    if buffer:
        out.write(("\n".join(buffer) + "\n").encode("utf-8"))
    out.flush()
    return count


def register(app: typer.Typer) -> None:
    """Add ``pheme eval`` to ``app``."""

    @app.command("eval")
    def eval_command(
        expression: str | None = typer.Argument(
            None, metavar="EXPR", help="The expression, with or without ${{ }}; literal text around ${{ }} makes a string."
        ),
        contexts_file: Path | None = typer.Option(
            None, "--contexts", metavar="FILE.json", help="JSON object of context name → value (github, env, matrix…)."
        ),
        event_file: Path | None = typer.Option(
            None, "--event", metavar="PAYLOAD.json", help="Event payload, made available as github.event."
        ),
        event_name: str | None = typer.Option(
            None, "--event-name", help="github.event_name (default: push, when --event is given and it is unset)."
        ),
        jsonl: bool = typer.Option(
            False, "--jsonl", help='Read {"expr": …, "contexts": {…}} lines from stdin; write one result per line.'
        ),
    ) -> None:
        """Evaluate an expression and print {"kind": …, "value": …} as JSON."""
        import sys

        from pheme.errors import UsageError

        if jsonl:
            if expression is not None or contexts_file is not None or event_file is not None:
                raise UsageError("--jsonl reads expressions and contexts from stdin; give no EXPR, --contexts or --event")
            run_jsonl(sys.stdin.buffer, sys.stdout.buffer)
            return
        if expression is None:
            raise UsageError("give an expression to evaluate, or --jsonl to read them from stdin")
        contexts = _build_contexts(contexts_file, event_file, event_name)
        result, code = _evaluate_one(expression, contexts)
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        if code:
            raise typer.Exit(code)
