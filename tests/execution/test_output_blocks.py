"""The output processor's block path: whole reads in, masked lines out, GitHub's semantics kept.

A step's output reaches :class:`OutputProcessor` as raw reads cut anywhere
(usually at a line end, as the reader hands on complete lines). These tests feed
it by hand, so every cut is deliberate.
"""

from __future__ import annotations

from pheme.execution._commands import _HUGE_LINE, OutputProcessor
from pheme.execution.events import LogBlock
from pheme.execution.masking import Masker


def _processor(*secrets: str) -> tuple[OutputProcessor, list[object], list[tuple[str, str]]]:
    emitted: list[object] = []
    annotations: list[tuple[str, str]] = []
    processor = OutputProcessor(
        masker=Masker(secrets), emit=emitted.append, annotate=lambda level, msg, props: annotations.append((level, msg))
    )
    return processor, emitted, annotations


def _lines(emitted: list[object]) -> list[str]:
    return [line for chunk in emitted for line in chunk]  # type: ignore[attr-defined]


def test_add_mask_in_the_middle_of_a_big_output_masks_the_lines_after_it_only() -> None:
    processor, emitted, _ = _processor()
    before = b"".join(b"token-123 before %d\n" % i for i in range(5_000))
    after = b"".join(b"token-123 after %d\n" % i for i in range(5_000))
    processor.feed(memoryview(before + b"::add-mask::token-123\n" + after))
    processor.feed(b"still token-123\n")
    processor.flush()
    lines = _lines(emitted)
    assert len(lines) == 10_001
    assert lines[:5_000] == [f"token-123 before {i}" for i in range(5_000)]
    assert lines[5_000:10_000] == [f"*** after {i}" for i in range(5_000)]
    assert lines[-1] == "still ***"


def test_a_secret_split_across_two_reads_is_masked() -> None:
    processor, emitted, _ = _processor("s3cr3t-value")
    processor.feed(b"first line\nthe key is s3cr")
    processor.feed(b"3t-value, done\nlast s3cr3t-val")
    processor.feed(b"ue")
    processor.flush()
    assert _lines(emitted) == ["first line", "the key is ***, done", "last ***"]


def test_plain_blocks_go_on_as_one_block_without_per_line_objects() -> None:
    processor, emitted, _ = _processor()
    processor.feed(memoryview(b"a\nb\n\nc\n"))
    assert len(emitted) == 1 and isinstance(emitted[0], LogBlock)
    assert emitted[0].text == "a\nb\n\nc"


def test_non_utf8_bytes_become_replacement_characters_and_split_characters_survive() -> None:
    processor, emitted, _ = _processor()
    check = "✓".encode()  # three bytes, cut between two reads
    processor.feed(b"bad \xff\xfe byte\nok " + check[:1])
    processor.feed(check[1:] + b" done\n")
    processor.flush()
    assert _lines(emitted) == ["bad \ufffd\ufffd byte", "ok ✓ done"]


def test_crlf_line_ends_even_at_the_end_of_a_read_and_a_last_line_without_newline() -> None:
    processor, emitted, _ = _processor()
    processor.feed(b"one\r\ntwo\r\n")
    processor.feed(b"three\r")
    processor.feed(b"\nfour\r")
    processor.flush()
    assert _lines(emitted) == ["one", "two", "three", "four"]


def test_commands_anywhere_in_a_block_and_stop_commands_across_reads() -> None:
    processor, emitted, annotations = _processor()
    processor.feed(b"x\n  ::warning::indented works\n::stop-commands::tok\n::error::not a command\n")
    processor.feed(b"::tok::\n::notice::again\n")
    processor.flush()
    assert _lines(emitted) == [
        "x", "##[warning]indented works", "::error::not a command", "##[notice]again"]  # fmt: skip
    assert annotations == [("warning", "indented works"), ("notice", "again")]


def test_a_command_cut_between_two_reads_is_still_a_command() -> None:
    processor, emitted, _ = _processor()
    processor.feed(b"before\n:")
    processor.feed(b":group::Title\ninside\n")
    processor.flush()
    assert _lines(emitted) == ["before", "##[group]Title", "inside"]


def test_a_giant_line_without_newline_is_handed_on_in_pieces_cut_between_characters() -> None:
    processor, emitted, _ = _processor()
    giant = "é" * (_HUGE_LINE // 2 + 3)  # two bytes each: the 4 MiB limit falls inside a character
    data = giant.encode()
    for i in range(0, len(data), 1 << 20):
        processor.feed(data[i : i + (1 << 20)])
    processor.feed(b"\nnext\n")
    processor.flush()
    lines = _lines(emitted)
    assert "".join(lines[:-1]) == giant and lines[-1] == "next"
    assert "\ufffd" not in "".join(lines)


def test_plain_ascii_output_is_handed_on_as_the_bytes_read() -> None:
    processor, emitted, _ = _processor()
    processor.feed(b"one\ntwo: not a command\nthree\n")
    (block,) = emitted
    assert isinstance(block, LogBlock) and block.raw == b"one\ntwo: not a command\nthree"
    assert list(block) == ["one", "two: not a command", "three"] and len(block) == 3
    assert block.text == "one\ntwo: not a command\nthree"


def test_output_that_needs_work_takes_the_text_path_with_the_same_semantics() -> None:
    processor, emitted, annotations = _processor()
    processor.feed(b"a\r\nb\n")  # carriage returns are dropped
    processor.feed("naïve\n".encode())  # UTF-8
    processor.feed(b"bad \xff byte\n")  # invalid UTF-8 is replaced
    processor.feed(b"x\n  ::warning::careful\ny\n")  # a command in a block
    processor.flush()
    assert _lines(emitted) == ["a", "b", "naïve", "bad \ufffd byte", "x", "##[warning]careful", "y"]
    assert annotations == [("warning", "careful")]
    assert all(isinstance(b, LogBlock) and isinstance(b.raw, str) for b in emitted)


def test_with_secrets_to_mask_output_is_always_masked_text() -> None:
    processor, emitted, _ = _processor("hunter2")
    processor.feed(b"the password is hunter2\n")
    assert _lines(emitted) == ["the password is ***"]
