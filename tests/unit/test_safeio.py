"""safeio's YAML builder gives what yaml.safe_load gives (timestamps aside), within its limits."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lmeval_setup import safeio

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=20))
DATA = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                     st.dictionaries(st.text(max_size=8), inner, max_size=5)),
                    max_leaves=30)


@pytest.mark.soak  # `make soak` runs it with LMEVAL_SOAK=1
@settings(max_examples=300 if os.environ.get("LMEVAL_SOAK") else 100, deadline=None)
@given(DATA, st.sampled_from(["block", "flow"]))
def test_round_trip_equals_safe_load(data: Any, style: str) -> None:
    text = yaml.safe_dump(data, default_flow_style=(style == "flow"))
    assert safeio.load_yaml_all(text, "t") == list(yaml.safe_load_all(text))


@pytest.mark.parametrize("text", [
    "base: &b {x: 1, y: [1, 2]}\nc:\n  <<: *b\n  y: 3\n",
    "a: &a {p: 1}\nb: &b {q: 2}\nc: {<<: [*a, *b], r: 3}\n",
    "---\n- 0x1f\n- 1_000\n- .inf\n- ~\n- yes\n---\nk: !!str 12\n",
    "? complex\n: 1\n'quoted': \"2\"\n",
])
def test_anchors_merges_and_tags_as_safe_load(text: str) -> None:
    assert safeio.load_yaml_all(text, "t") == list(yaml.safe_load_all(text))


def test_timestamps_stay_text_as_the_api_server_sends_them() -> None:
    assert safeio.load_yaml("t: 2026-11-28T12:00:00Z\n", "t") == {"t": "2026-11-28T12:00:00Z"}


@pytest.mark.parametrize(("text", "limits", "why"), [
    ("a: &a [1, 2, 3]\nb: [*a, *a, *a, *a]\n", safeio.YamlLimits(max_nodes=15), "nodes with aliases expanded"),
    ("- " * 6 + "x\n", safeio.YamlLimits(max_depth=5), "nested deeper than 5"),
    ("[" + ", ".join(["1"] * 11) + "]", safeio.YamlLimits(max_sequence=10), "more than 10 items"),
    ("a: &a [*a]\n", safeio.YamlLimits(), "refers to no (or an enclosing) anchor"),
    ("---\n1\n---\n2\n---\n3\n", safeio.YamlLimits(max_documents=2), "more than 2 YAML documents"),
    ("a: [1, 2\n", safeio.YamlLimits(), "YAML syntax error"),
])
def test_limits_refuse_with_the_reason(text: str, limits: safeio.YamlLimits, why: str) -> None:
    with pytest.raises(safeio.UnreadableInput, match=why.replace("(", r"\(").replace(")", r"\)")):
        safeio.load_yaml_all(text, "t", limits)


def test_read_tail_starts_at_a_whole_line_and_drops_nuls(tmp_path: Path) -> None:
    log = tmp_path / "current.log"
    log.write_bytes(b"\0" * 1000 + b"first line cut\nsecond\nthird \xff\n")
    assert safeio.read_tail(log, max_bytes=20) == "second\nthird \ufffd\n"
    assert safeio.read_tail(log, max_bytes=10_000).startswith("first line cut")


def test_write_private_refuses_an_existing_link(tmp_path: Path) -> None:
    (tmp_path / "target").write_text("keep")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(OSError):
        safeio.write_private(tmp_path / "link", "x")
    assert (tmp_path / "target").read_text() == "keep"
    safeio.write_private(tmp_path / "new", "x")
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o600


# -- written files -------------------------------------------------------------------------------------
def test_write_atomic_leaves_the_old_file_and_no_temporary_when_the_rename_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "report.xml"
    path.write_text("old")

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safeio.os, "replace", refuse)
    with pytest.raises(safeio.UnwritableOutput, match=r"report\.xml: cannot write: no space left on device"):
        safeio.write_atomic(path, "new", replace=True)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.xml"]


def test_write_atomic_creates_files_as_the_umask_says(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        safeio.write_atomic(tmp_path / "a.yaml", "x: 1\n", replace=False)
    finally:
        os.umask(old)
    assert (tmp_path / "a.yaml").stat().st_mode & 0o777 == 0o640
    (tmp_path / "a.yaml").chmod(0o604)  # a file replaced keeps the mode it had, whatever the umask
    safeio.write_atomic(tmp_path / "a.yaml", "x: 2\n", replace=True)
    assert (tmp_path / "a.yaml").stat().st_mode & 0o777 == 0o604 and (tmp_path / "a.yaml").read_text() == "x: 2\n"


def test_check_writable_names_what_is_in_the_way(tmp_path: Path) -> None:
    safeio.check_writable(tmp_path / "absent" / "below", replace=False)  # no directory yet: nothing in the way
    (tmp_path / "file").write_text("")
    with pytest.raises(safeio.UnwritableOutput, match="exists"):
        safeio.check_writable(tmp_path / "file", replace=False)
    safeio.check_writable(tmp_path / "file", replace=True)
    (tmp_path / "dir").mkdir()
    with pytest.raises(safeio.UnwritableOutput, match="a directory, not a regular file"):
        safeio.check_writable(tmp_path / "dir", replace=True)


def test_an_unreadable_input_keeps_the_stable_reason_word_apart_from_why(tmp_path: Path) -> None:
    """LmevalError.reason is the word the Ansible modules report; the refusal's sentence used to overwrite it."""
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(safeio.UnreadableInput) as caught:
        safeio.read_text(tmp_path / "fifo", limit=100)
    assert caught.value.why == "a FIFO, not a regular file: refused"
    assert caught.value.reason == safeio.UnreadableInput.reason and " " not in caught.value.reason


def test_write_atomic_takes_a_name_as_long_as_the_system_allows(tmp_path: Path) -> None:
    """The temporary file beside it used to add ~25 characters to the name: a 240-character name was refused."""
    path = tmp_path / ("n" * 250)
    safeio.write_atomic(path, "x", replace=False)
    assert path.read_text() == "x" and [p.name for p in tmp_path.iterdir()] == [path.name]
