"""LogBlock: a block of output that observers can treat as the list of its lines."""

from __future__ import annotations

from pheme.execution.events import LogBlock


def test_a_block_is_the_list_of_its_lines() -> None:
    block = LogBlock("a\n\nc")
    assert len(block) == 3
    assert list(block) == ["a", "", "c"] and block == ["a", "", "c"] and ["a", "", "c"] == block  # noqa: SIM300 (the list on the left on purpose)
    assert (block[0], block[-1], block[1:]) == ("a", "c", ["", "c"])
    assert block == LogBlock("a\n\nc") and block != LogBlock("a\nc")
    assert LogBlock("") == [""] and len(LogBlock("")) == 1


def test_the_processor_hands_plain_output_on_as_blocks_and_commands_as_lines() -> None:
    from pheme.execution._commands import OutputProcessor
    from pheme.execution.masking import Masker

    emitted: list[object] = []
    processor = OutputProcessor(masker=Masker(["s3cr3t"]), emit=emitted.append, annotate=lambda *a: None)
    processor.feed(b"one\ntwo s3cr3t\nthr")
    processor.feed(b"ee\n::warning::careful\n")
    processor.flush()
    assert isinstance(emitted[0], LogBlock)
    assert [line for chunk in emitted for line in chunk] == ["one", "two ***", "three", "##[warning]careful"]


def test_the_last_lines_of_a_block_are_found_from_its_end() -> None:
    block = LogBlock("a\n\nc\nd")
    assert [block.tail(n) for n in (0, 1, 2, 4, 9)] == [[], ["d"], ["c", "d"], ["a", "", "c", "d"], ["a", "", "c", "d"]]
    assert LogBlock("x\n").tail(1) == [""] and LogBlock("only").tail(3) == ["only"]
    split = LogBlock("1\n2\n3")
    assert list(split) == ["1", "2", "3"] and split.tail(2) == ["2", "3"]  # from the split lines once split
