"""Atomic writes: the final name only ever holds a complete file."""

from __future__ import annotations

import pytest

from mediaml.files import atomic_path


def test_success_renames_into_place_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "deep" / "dir" / "clip.mp4"
    with atomic_path(target) as part:
        assert part.parent == target.parent and part.suffix == ".mp4"
        assert part.name.startswith(".")
        part.write_bytes(b"complete")
    assert target.read_bytes() == b"complete"
    assert [p.name for p in target.parent.iterdir()] == ["clip.mp4"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as part:
        part.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_nothing_written_is_an_error_and_leaves_the_target_alone(tmp_path):
    target = tmp_path / "clip.mp4"
    with pytest.raises(FileNotFoundError), atomic_path(target):
        pass
    assert not target.exists()
