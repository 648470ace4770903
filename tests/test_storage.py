"""The object store against a local directory and a real S3-compatible server (moto)."""

from pathlib import Path

import pytest
import requests

from mediaml.config import load_settings
from mediaml.errors import ConfigError, StorageError
from mediaml.storage import LocalStore, make_store
from mediaml.storage.s3 import S3Store


@pytest.fixture(params=["local", "s3"])
def any_store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "media", tmp_path / "cache")
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    settings = load_settings(
        {
            "MEDIAML_DATA_DIR": str(tmp_path),
            "PROD_S3_BUCKET_NAME": bucket,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "MEDIAML_S3_ENDPOINT_URL": endpoint,
        }
    )
    store = make_store(settings)
    assert isinstance(store, S3Store)
    return store


def fetch(store, key):
    url = store.url(key, expires=60)
    if isinstance(store, LocalStore):
        assert url == f"/media/{key}"
        return Path(store.path(key)).read_bytes()
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    return response.content


def test_round_trip(any_store, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"\x00\x01video" * 1000)
    key = "proxies/1-my-video.mp4"
    assert not any_store.exists(key)
    assert any_store.put(src, key) == key
    assert any_store.exists(key)
    assert any_store.size(key) == src.stat().st_size
    out = any_store.get(key, tmp_path / "out" / "copy.bin")
    assert out.read_bytes() == src.read_bytes()
    with any_store.open(key) as f:
        assert f.read(7) == b"\x00\x01video"
    any_store.put_bytes(b"jpeg", "artifacts/keyframes/1/2/00000010.jpg")
    any_store.put_bytes(b"jpeg2", "artifacts/keyframes/1/2/00000020.jpg")
    assert any_store.list("artifacts/keyframes/1/") == [
        "artifacts/keyframes/1/2/00000010.jpg",
        "artifacts/keyframes/1/2/00000020.jpg",
    ]
    assert any_store.list("proxies/") == [key]
    assert any_store.list("masters/") == []
    assert fetch(any_store, key) == src.read_bytes()
    any_store.delete(key)
    any_store.delete(key)  # already gone: no error
    assert not any_store.exists(key)
    with pytest.raises(StorageError, match="no object"):
        any_store.get(key, tmp_path / "missing")


def test_overwrite_replaces_content(any_store):
    any_store.put_bytes(b"one", "masters/1-a.mp4")
    any_store.put_bytes(b"two", "masters/1-a.mp4")
    assert fetch(any_store, "masters/1-a.mp4") == b"two"


def test_local_path_uses_cache_then_store(any_store, tmp_path):
    any_store.put_bytes(b"proxy-bytes", "proxies/9-x.mp4")
    first = any_store.local_path("proxies/9-x.mp4")
    gets = any_store.stats["get"]
    second = any_store.local_path("proxies/9-x.mp4")
    assert first == second and second.read_bytes() == b"proxy-bytes"
    assert any_store.stats["get"] == gets  # the second call fetched nothing


@pytest.mark.parametrize(
    "key",
    ["../etc/passwd", "/abs/key", "proxies/../../x", "proxies//x", "other/x", "proxies/.hidden"],
)
def test_unsafe_keys_are_refused(any_store, key):
    with pytest.raises(StorageError):
        any_store.exists(key)


def test_check_passes_on_reachable_store(any_store):
    any_store.check()


def test_missing_bucket_is_a_clear_error(s3_endpoint, tmp_path):
    store = S3Store(
        "does-not-exist-bucket",
        tmp_path,
        access_key_id="testing",
        secret_access_key="testing",
        region="us-east-1",
        endpoint_url=s3_endpoint,
    )
    with pytest.raises(StorageError, match="PROD_S3_BUCKET_NAME"):
        store.check()


def test_missing_credentials_are_a_clear_error(tmp_path, monkeypatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ConfigError, match="AWS_ACCESS_KEY_ID"):
        S3Store("good-bucket", tmp_path, region="us-east-1")


def test_bad_bucket_name_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="PROD_S3_BUCKET_NAME"):
        S3Store("Bad..Bucket", tmp_path, access_key_id="a", secret_access_key="b")


def test_local_put_is_atomic_on_failure(tmp_path):
    store = LocalStore(tmp_path / "media", tmp_path / "cache")
    with pytest.raises(StorageError):
        store.put(tmp_path / "does-not-exist.mp4", "masters/1-a.mp4")
    assert not store.exists("masters/1-a.mp4")
    assert list((tmp_path / "media").rglob("*")) == [] or all(
        p.is_dir() for p in (tmp_path / "media").rglob("*")
    )
