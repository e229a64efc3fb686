"""Workflow commands (``::name props::data`` on stdout) and file commands
(``GITHUB_OUTPUT``, ``GITHUB_ENV``, ``GITHUB_PATH``, ``GITHUB_STATE``).

:class:`OutputProcessor` turns a step's raw output blocks into masked log
lines. Its fast path handles a whole block of complete lines at once: it is
decoded (bytes are only ever cut at a line end, so a UTF-8 sequence is never
split; invalid bytes become U+FFFD), and unless some line starts with ``::``
(one ``memchr`` for ``:`` plus, rarely, one regex scan) it is masked with one
regex and handed on as one :class:`~pheme.execution.events.LogBlock` — no
per-line Python work. Only blocks that carry commands are walked line by
line; an ``add-mask`` there applies to the lines after it.

Semantics follow GitHub's runner (``ActionCommandManager``):

- A command line may be indented; unknown command names are plain output.
- Property values unescape ``%0D %0A %3A %2C %25``; data ``%0D %0A %25``.
- Processed command lines are not logged, unless ``::echo::on``.
- ``error``/``warning``/``notice`` become :class:`Annotation` events and a
  ``##[error]…`` line; ``group``/``endgroup`` become ``##[group]…`` lines;
  ``debug`` is shown only when step debug logging is on.
- ``::stop-commands::TOKEN`` turns processing off until a ``::TOKEN::`` line.
- ``set-output``/``save-state`` still work, with GitHub's deprecation warning.
- ``set-env``/``add-path`` are disabled as on GitHub (the step fails) unless
  ``ACTIONS_ALLOW_UNSECURE_COMMANDS=true`` is in the step's environment.
- ``add-matcher``/``remove-matcher`` are accepted and ignored (no problem
  matchers yet).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from pheme.errors import ExecutionError
from pheme.execution.events import LogBlock
from pheme.execution.masking import Masker

__all__ = ["OutputProcessor", "StepCommands", "parse_key_value_file", "parse_path_file"]

# "::" after a newline and optional indentation. Searching from the "\n"
# (a memchr-driven scan) is much faster than searching for "::" itself.
_COMMAND_AFTER_NEWLINE = re.compile(r"\n[ \t]*::")
_COMMAND_AT_START = re.compile(r"[ \t]*::")


def _has_command(text: str) -> bool:
    """Whether some line of ``text`` starts with ``::`` (after optional indentation)."""
    if ":" not in text:  # one memchr: most output never gets further
        return False
    return _COMMAND_AT_START.match(text) is not None or _COMMAND_AFTER_NEWLINE.search(text) is not None


_COMMAND_AFTER_NEWLINE_B = re.compile(rb"\n[ \t]*::")
_COMMAND_AT_START_B = re.compile(rb"[ \t]*::")


def _plain_ascii(data: bytes) -> bool:
    """Whether ``data`` is ASCII with no ``\r`` and no line that starts with ``::``: output
    that passes through unchanged (each test is one pass at C speed)."""
    if not data.isascii() or b"\r" in data:
        return False
    if b":" not in data:
        return True
    return _COMMAND_AT_START_B.match(data) is None and _COMMAND_AFTER_NEWLINE_B.search(data) is None


def _command_starts(text: str) -> Iterator[int]:
    """Where the lines of ``text`` that start with ``::`` (after indentation) begin."""
    if _COMMAND_AT_START.match(text):
        yield 0
    for match in _COMMAND_AFTER_NEWLINE.finditer(text):
        yield match.start() + 1


def _utf8_cut(data: bytes) -> int:
    """The largest index <= len(data) that does not split a UTF-8 sequence."""
    end = len(data)
    for back in range(1, min(4, end) + 1):
        byte = data[end - back]
        if byte < 0x80:
            return end
        if byte >= 0xC0:  # a lead byte: is its sequence complete?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return end if back >= need else end - back
    return end


_HUGE_LINE = 4 * 1024 * 1024

_KNOWN = {
    "add-mask",
    "add-matcher",
    "remove-matcher",
    "debug",
    "echo",
    "endgroup",
    "error",
    "group",
    "notice",
    "warning",
    "save-state",
    "set-output",
    "set-env",
    "add-path",
    "stop-commands",
}

SET_OUTPUT_DEPRECATED = (
    "The `set-output` command is deprecated and will be disabled soon. Please upgrade to using "
    "Environment Files. For more information see: "
    "https://github.blog/changelog/2022-10-11-github-actions-deprecating-save-state-and-set-output-commands/"
)
SAVE_STATE_DEPRECATED = SET_OUTPUT_DEPRECATED.replace("`set-output`", "`save-state`")
UNSECURE_DISABLED = (
    "The `{0}` command is disabled. Please upgrade to using Environment Files or opt into unsecure "
    "command execution by setting the `ACTIONS_ALLOW_UNSECURE_COMMANDS` environment variable to `true`. "
    "For more information see: "
    "https://github.blog/changelog/2020-10-01-github-actions-deprecating-set-env-and-add-path-commands/"
)


def _unescape_data(s: str) -> str:
    return s.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def _unescape_prop(s: str) -> str:
    return (
        s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
    )


def parse_command(line: str) -> tuple[str, dict[str, str], str] | None:
    """``(name, properties, data)`` for a ``::name k=v,…::data`` line, else None."""
    s = line.lstrip()
    if not s.startswith("::"):
        return None
    end = s.find("::", 2)
    if end < 0:
        return None
    info = s[2:end]
    space = info.find(" ")
    name = (info if space < 0 else info[:space]).lower()
    props: dict[str, str] = {}
    if space >= 0:
        for part in info[space + 1 :].split(","):
            if not part:
                continue
            k, sep, v = part.partition("=")
            if sep and k:
                props[k.lower()] = _unescape_prop(v)
    return name, props, _unescape_data(s[end + 2 :])


@dataclass
class StepCommands:
    """What a step's commands asked for (read by the step after it ends)."""

    outputs: dict[str, str] = field(default_factory=dict)
    state: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # command failures: the step fails


AnnotateFn = Callable[[str, str, dict[str, str]], None]


class OutputProcessor:
    """Masks and splits a step's output; carries out its workflow commands."""

    def __init__(
        self,
        *,
        masker: Masker,
        emit: Callable[[Sequence[str]], None],
        annotate: AnnotateFn,
        debug: bool = False,
        allow_unsecure: bool = False,
    ) -> None:
        self.masker = masker
        self.emit = emit
        self.annotate = annotate
        self.debug = debug
        self.allow_unsecure = allow_unsecure
        self.result = StepCommands()
        self._stop_token: str | None = None
        self._echo = False
        self._warned: set[str] = set()
        self._partial = b""  # the start of a line whose end has not arrived yet

    # -- blocks ---------------------------------------------------------
    def feed(self, chunk: bytes | memoryview) -> None:
        """Handle a chunk of raw output, as read from the pipe (any size, any cut;
        the common case, a block of complete lines, is decoded in place)."""
        if not chunk:
            return
        if self._partial or chunk[-1] != 10:  # 10: "\n"
            data = self._partial + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                self._keep(data)
                return
            self._partial = data[cut + 1 :]
            body = memoryview(data)[:cut]
        else:
            body = memoryview(chunk)[:-1]
        if not self.masker:
            # Nothing to mask: plain ASCII lines go on as the bytes read (no decoding here,
            # no encoding in the store); anything else takes the text path below.
            data = bytes(body)
            if _plain_ascii(data):
                self.emit(LogBlock.from_ascii(data))
                return
            self._block(data.decode("utf-8", "replace"))
            return
        self._block(str(body, "utf-8", "replace"))

    def _block(self, text: str) -> None:
        """Complete lines joined by ``\n`` (the last one's newline removed)."""
        if "\r" in text:
            text = text.replace("\r\n", "\n").removesuffix("\r")
        if not _has_command(text):
            self._emit_text(text)
            return
        # Only the lines that look like commands are handled one by one; the runs of
        # plain lines between them are sliced out whole (a group header in a MiB of
        # output must not cost a Python step per line).
        out: list[str] = []
        pos = 0
        for start in _command_starts(text):
            if start > pos:
                out.append(text[pos : start - 1])
            end = text.find("\n", start)
            if end < 0:
                end = len(text)
            self._line(text[start:end], out)
            pos = end + 1
        if pos <= len(text):
            out.append(text[pos:])
        if out:
            self._emit_text("\n".join(out))

    def _emit_text(self, text: str) -> None:
        self.emit(LogBlock(self.masker.mask(text) if self.masker else text))

    def _keep(self, partial: bytes) -> None:
        if len(partial) >= _HUGE_LINE:  # a giant line without newline: hand it on anyway
            cut = _utf8_cut(partial)
            self._partial = partial[cut:]
            self.feed_text_line(partial[:cut].decode("utf-8", "replace"))
        else:
            self._partial = partial

    def feed_text_line(self, line: str) -> None:
        self._feed_slow([line])

    def flush(self) -> None:
        """The output ended: handle a last line without newline."""
        rest = self._partial.decode("utf-8", "replace")
        self._partial = b""
        if rest:
            self._feed_slow([rest.removesuffix("\r")])

    def _feed_slow(self, lines: list[str]) -> None:
        out: list[str] = []
        for line in lines:
            self._line(line, out)
        if out:
            self._emit_text("\n".join(out))

    def _line(self, line: str, out: list[str]) -> None:
        """Handle one line that may be a command; what it shows goes to ``out``."""
        if self._stop_token is not None:
            if line.strip() == f"::{self._stop_token}::":
                self._stop_token = None
            else:
                out.append(line)
            return
        parsed = parse_command(line)
        if parsed is None or parsed[0] not in _KNOWN:
            out.append(line)
            return
        if parsed[0] == "add-mask" and out:
            # The new value is masked from here on; the lines before are handed on as they are.
            self._emit_text("\n".join(out))
            out.clear()
        if self._echo:
            out.append(line)
        out.extend(self._run(line, *parsed))

    # -- commands ---------------------------------------------------------
    def _run(self, line: str, name: str, props: dict[str, str], data: str) -> list[str]:
        if name == "add-mask":
            if not data.strip():
                return self._annotation(
                    "warning", "Can't add secret mask for empty string in ##[add-mask] command.", {}
                )
            self.masker.add(data)
            return []
        if name in ("error", "warning", "notice"):
            return self._annotation(name, data, props)
        if name == "debug":
            return [f"##[debug]{data}"] if self.debug else []
        if name == "group":
            return [f"##[group]{data}"]
        if name == "endgroup":
            return ["##[endgroup]"]
        if name == "echo":
            self._echo = data.strip().lower() == "on"
            return []
        if name == "stop-commands":
            if data:
                self._stop_token = data
            return []
        if name == "set-output":
            self.result.outputs[props.get("name", "")] = data
            return self._deprecated("set-output", SET_OUTPUT_DEPRECATED)
        if name == "save-state":
            self.result.state[props.get("name", "")] = data
            return self._deprecated("save-state", SAVE_STATE_DEPRECATED)
        if name in ("set-env", "add-path"):
            if not self.allow_unsecure:
                msg = self.masker.mask(f"Unable to process command '{line.strip()}' successfully.")
                reason = UNSECURE_DISABLED.format(name)
                self.result.errors.append(reason)
                for level_msg in (msg, reason):
                    self.annotate("error", level_msg, {})
                return [f"##[error]{msg}", f"##[error]{reason}"]
            if name == "set-env":
                self.result.env[props.get("name", "")] = data
            else:
                self.result.path.append(data)
            return []
        return []  # add-matcher / remove-matcher: accepted, ignored

    def _deprecated(self, key: str, message: str) -> list[str]:
        if key in self._warned:
            return []
        self._warned.add(key)
        return self._annotation("warning", message, {})

    def _annotation(self, level: str, message: str, props: dict[str, str]) -> list[str]:
        masked = self.masker.mask(message) if self.masker else message
        self.annotate(level, masked, props)
        first, *rest = masked.split("\n")
        return [f"##[{level}]{first}", *rest]


def parse_key_value_file(text: str, kind: str) -> dict[str, str]:
    """Parse a ``GITHUB_OUTPUT``/``GITHUB_ENV``/``GITHUB_STATE`` file.

    Lines are ``name=value`` or a ``name<<DELIMITER`` heredoc ending at a line
    equal to the delimiter. Errors are GitHub's (one line, no values).
    """
    result: dict[str, str] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    i = 0
    while i < len(lines):
        line = lines[i].removesuffix("\r")
        i += 1
        if not line:
            continue
        eq = line.find("=")
        heredoc = line.find("<<")
        if eq >= 0 and (heredoc < 0 or eq < heredoc):
            key, value = line[:eq], line[eq + 1 :]
            if not key:
                raise ExecutionError(
                    f"Unable to process file command '{kind}' successfully: invalid format (empty name)"
                )
        elif heredoc >= 0:
            key, delimiter = line[:heredoc], line[heredoc + 2 :]
            if not key or not delimiter:
                raise ExecutionError(f"Unable to process file command '{kind}' successfully: invalid format")
            body: list[str] = []
            while True:
                if i >= len(lines):
                    raise ExecutionError(
                        f"Unable to process file command '{kind}' successfully: "
                        f"matching delimiter not found '{delimiter}'"
                    )
                current = lines[i].removesuffix("\r")
                i += 1
                if current == delimiter:
                    break
                body.append(current)
            value = "\n".join(body)
        else:
            raise ExecutionError(f"Unable to process file command '{kind}' successfully: invalid format")
        result[key] = value
    return result


def parse_path_file(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]
