import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediaml.errors import StorageError
from mediaml.storage import keys


@given(title=st.text(), filename=st.text(), video_id=st.integers(0, 10**12))
def test_no_title_or_filename_escapes_its_prefix(title, filename, video_id):
    for key, prefix in (
        (keys.original_key(video_id, title, filename), "originals/"),
        (keys.master_key(video_id, title), "masters/"),
        (keys.proxy_key(video_id, title), "proxies/"),
        (keys.clip_key(video_id, title, 7, 0, 10), "clips/"),
    ):
        assert key.startswith(prefix)
        assert posixpath.normpath(key) == key
        assert ".." not in key.split("/")
        assert keys.validate_key(key) == key
        assert key.count("/") == prefix.count("/") + (1 if prefix == "clips/" else 0)


@given(title=st.text(), a=st.integers(0, 10**6), b=st.integers(0, 10**6))
def test_same_title_different_ids_never_collide(title, a, b):
    if a != b:
        assert keys.master_key(a, title) != keys.master_key(b, title)
        assert keys.proxy_key(a, title) != keys.proxy_key(b, title)


def test_slugify_examples():
    assert keys.slugify("Ünïcode Title: Part 2/3") == "unicode-title-part-2-3"
    assert keys.slugify("../../etc/passwd") == "etc-passwd"
    assert keys.slugify("") == "untitled"
    assert keys.slugify("日本語") == "untitled"
    assert len(keys.slugify("x" * 500)) == 60


def test_extension_is_kept_only_when_plain():
    assert keys.original_key(1, "a", "Clip.MOV").endswith(".mov")
    assert keys.original_key(1, "a", "clip.m p4").endswith(".mp4")
    assert keys.original_key(1, "a", "dir.d/noext").endswith(".mp4")


def test_keyframe_key_layout():
    assert keys.keyframe_key(3, 14, 15) == "artifacts/keyframes/3/14/00000015.jpg"


def test_a_rendition_sits_beside_its_keyframe_and_names_its_preprocessing():
    key = keys.rendition_key(3, 14, 15, "s224-c224x224-r3")
    assert key == "artifacts/keyframes/3/14/00000015-s224-c224x224-r3.png"
    assert keys.validate_key(key) == key
    assert key.rsplit("/", 1)[0] == keys.keyframe_key(3, 14, 15).rsplit("/", 1)[0]
    for bad in ("", "../x", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="rendition names"):
            keys.rendition_key(3, 14, 15, bad)


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_ids_must_be_integers(bad):
    with pytest.raises(ValueError):
        keys.master_key(bad, "t")


@pytest.mark.parametrize("prefix", ["../", "secrets/", "proxies/../.."])
def test_bad_prefixes(prefix):
    with pytest.raises(StorageError):
        keys.validate_prefix(prefix)
