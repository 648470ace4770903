"""Fetching sources over HTTP (a real local server), S3 (moto) and yt-dlp."""

import dataclasses
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

import mediaml
from mediaml.config import load_settings
from mediaml.errors import MediaError, StorageError
from mediaml.pipeline.fetch import fetch, source_kind


class MediaServer:
    """Serves registered byte strings with chosen content types and failure counts."""

    def __init__(self):
        self.routes = {}
        self.hits = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                body, ctype, fail_first = server.routes.get(self.path, (None, None, 0))
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                if body is None:
                    self.send_error(404)
                    return
                if server.hits[self.path] <= fail_first:
                    self.send_error(503)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, path, body, ctype="video/mp4", fail_first=0):
        self.routes[path] = (body, ctype, fail_first)
        return self.base + path


@pytest.fixture
def http_media():
    server = MediaServer()
    yield server
    server.httpd.shutdown()


@pytest.fixture
def video_bytes(three_shot_video):
    return three_shot_video[0].read_bytes()


def test_source_kinds():
    assert source_kind("/a/b.mp4") == "local" and source_kind("file:///a.mp4") == "local"
    assert source_kind("s3://bucket/k.mp4") == "s3" and source_kind("https://x/y") == "http"
    assert source_kind("ytdl+https://x/watch?v=1") == "ytdl"
    with pytest.raises(MediaError, match="unsupported source"):
        source_kind("ftp://x/y.mp4")


def test_http_download_streams_to_file_after_retries(http_media, video_bytes, tmp_path):
    url = http_media.add("/v.mp4", video_bytes, fail_first=2)
    seen = []
    out = fetch(
        url, tmp_path / "v.mp4", load_settings({}), progress=lambda d, t: seen.append((d, t))
    )
    assert out.read_bytes() == video_bytes
    assert http_media.hits["/v.mp4"] == 3  # two 503s, then success
    assert seen[-1] == (len(video_bytes), len(video_bytes))
    assert not list(tmp_path.glob(".*partial*"))


def test_http_size_limit_and_content_type(http_media, video_bytes, tmp_path):
    small = dataclasses.replace(load_settings({}), max_download_bytes=1000)
    url = http_media.add("/big.mp4", video_bytes)
    with pytest.raises(MediaError, match="MEDIAML_MAX_DOWNLOAD_BYTES"):
        fetch(url, tmp_path / "big.mp4", small)
    json_url = http_media.add("/data.json", b"{}", ctype="application/json")
    with pytest.raises(MediaError, match="not a video"):
        fetch(json_url, tmp_path / "d.mp4", load_settings({}))
    with pytest.raises(MediaError, match="HTTP 404"):
        fetch(http_media.base + "/missing.mp4", tmp_path / "m.mp4", load_settings({}))
    assert not (tmp_path / "big.mp4").exists() and not list(tmp_path.glob(".*partial*"))


def test_ytdlp_fetches_a_media_url(http_media, video_bytes, tmp_path):
    url = http_media.add("/clip.mp4", video_bytes)
    out = fetch("ytdl+" + url, tmp_path / "y.mp4", load_settings({}))
    assert out.read_bytes() == video_bytes


def test_s3_size_limit(s3_endpoint, s3_bucket, video_bytes, tmp_path):
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).put_object(Bucket=s3_bucket, Key="incoming/big.mp4", Body=video_bytes)
    s3 = {
        "MEDIAML_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }
    uri = f"s3://{s3_bucket}/incoming/big.mp4"
    small = dataclasses.replace(load_settings(s3), max_download_bytes=len(video_bytes) - 1)
    with pytest.raises(MediaError, match=r"over the .*MEDIAML_MAX_DOWNLOAD_BYTES"):
        fetch(uri, tmp_path / "big.mp4", small)
    assert not (tmp_path / "big.mp4").exists() and not list(tmp_path.glob(".*partial*"))
    exact = dataclasses.replace(small, max_download_bytes=len(video_bytes))
    assert fetch(uri, tmp_path / "ok.mp4", exact).read_bytes() == video_bytes
    # S3 downloads report progress like HTTP ones: (bytes so far, object size), to the end.
    seen: list[tuple[int, int | None]] = []
    fetch(uri, tmp_path / "again.mp4", exact, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1] == (len(video_bytes), len(video_bytes))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_s3_without_credentials_says_what_to_set(s3_endpoint, s3_bucket, tmp_path, monkeypatch):
    """A new user's first s3:// source, on a machine with no AWS credentials at all: a
    message naming the variables, not botocore's NoCredentialsError and a traceback."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    settings = load_settings({"MEDIAML_S3_ENDPOINT_URL": s3_endpoint, "AWS_REGION": "us-east-1"})
    uri = f"s3://{s3_bucket}/incoming/a.mp4"
    with pytest.raises(StorageError, match="no AWS credentials found; set AWS_ACCESS_KEY_ID"):
        fetch(uri, tmp_path / "a.mp4", settings)
    assert not (tmp_path / "a.mp4").exists()


def test_http_and_s3_sources_through_the_pipeline(
    db, store, settings, http_media, video_bytes, s3_endpoint, s3_bucket
):
    from mediaml.config import set_settings

    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).put_object(Bucket=s3_bucket, Key="incoming/from s3.mp4", Body=video_bytes)
    set_settings(
        dataclasses.replace(
            settings,
            s3_endpoint_url=s3_endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            aws_region="us-east-1",
        )
    )
    url = http_media.add("/web%20video.mp4", video_bytes)
    sources = [url, f"s3://{s3_bucket}/incoming/from s3.mp4"]
    steps = mediaml.run_pipeline(sources, until="review", progress=False)
    assert set(steps["result"]) == {"done"}, steps
    frame = mediaml.videos()
    assert set(frame["state"]) == {"done"} and set(frame["clips"]) == {3}
    assert sorted(frame["title"]) == ["from s3", "web video"]
    assert len(store.list("originals/")) == 2


def test_ytdlp_format_takes_the_best_unless_capped():
    from mediaml.pipeline.fetch import ytdl_format

    assert ytdl_format(None) == "bv*+ba/b"
    assert ytdl_format(720) == "bv*[height<=720]+ba/b[height<=720]/bv*+ba/b"
    assert load_settings({}).ytdl_max_height is None
    assert load_settings({"MEDIAML_YTDL_MAX_HEIGHT": "1080"}).ytdl_max_height == 1080


def _video_page(http_media, video_bytes, title):
    http_media.add("/media/holiday.mp4", video_bytes)
    page = (
        f"<!doctype html><html><head><title>{title}</title></head><body>"
        '<h1>Our film</h1><video controls src="/media/holiday.mp4"></video></body></html>'
    )
    return http_media.add("/watch", page.encode(), ctype="text/html; charset=utf-8")


def test_a_web_page_is_fetched_by_ytdlp_with_its_title(http_media, video_bytes, tmp_path):
    from mediaml.pipeline.fetch import fetch_source

    url = _video_page(http_media, video_bytes, "Summer at the Lake")
    seen = []
    fetched = fetch_source(
        url, tmp_path / "watch", load_settings({}), progress=lambda d, t: seen.append((d, t))
    )
    assert fetched.title == "Summer at the Lake"
    assert fetched.path.read_bytes() == video_bytes
    assert seen and seen[-1][0] == len(video_bytes)


def test_a_page_url_gets_its_real_title_and_progress_through_the_pipeline(
    db, store, http_media, video_bytes, caplog
):
    import logging

    url = _video_page(http_media, video_bytes, "Summer at the Lake")
    with caplog.at_level(logging.INFO, logger="mediaml.progress"):
        steps = mediaml.run_pipeline([url], until="review", progress=False)
    assert set(steps["result"]) == {"done"}, steps
    video = mediaml.videos().iloc[0]
    assert video["title"] == "Summer at the Lake"  # not "watch", the URL's last segment
    with db.transaction() as conn:
        row = conn.execute("SELECT * FROM source_videos").fetchone()
    assert row["original_key"].startswith(f"originals/{row['id']}-summer-at-the-lake")
    assert row["proxy_key"] == f"proxies/{row['id']}-summer-at-the-lake.mp4"
    assert row["progress"] == 1.0
    encode_steps = [
        int(r.getMessage().rsplit(" ", 2)[-2])
        for r in caplog.records
        if r.getMessage().startswith(f"encode video {row['id']}:")
    ]
    # One line per 10 % step reached, in order, ending at 100 %.
    assert encode_steps == sorted(set(encode_steps)) and encode_steps[-1] == 100
    assert all(s % 10 == 0 for s in encode_steps) and len(encode_steps) >= 2
    assert any(r.getMessage() == f"download video {row['id']}: 100 %" for r in caplog.records)


def test_a_chosen_title_is_kept(db, store, http_media, video_bytes):
    url = _video_page(http_media, video_bytes, "Summer at the Lake")
    mediaml.ingest([url], title="My own name")
    steps = mediaml.run_pipeline(until="downloaded", progress=False)
    assert set(steps["result"]) == {"done"}, steps
    assert mediaml.videos().iloc[0]["title"] == "My own name"


def test_upload_sources_are_adopted_without_a_copy(db, store, video_bytes):
    from mediaml.pipeline.fetch import upload_uri
    from mediaml.storage.keys import upload_key

    key = upload_key("0123456789abcdef", "Beach Day.MOV")
    assert key == "uploads/0123456789abcdef-beach-day.mov"
    store.put_bytes(video_bytes, key)
    mediaml.ingest([upload_uri(key)], title="Beach Day", check=False)
    steps = mediaml.run_pipeline(until="review", progress=False)
    assert set(steps["result"]) == {"done"}, steps
    with db.transaction() as conn:
        row = conn.execute("SELECT * FROM source_videos").fetchone()
    assert row["original_key"] == key and row["size_bytes"] == len(video_bytes)
    assert not store.list("originals/")
    mediaml.ingest(["upload://uploads/ffffffffffffffff-gone.mp4"], check=False)
    steps = mediaml.run_pipeline(until="downloaded", progress=False)
    assert "missing from the object store" in steps["error"].dropna().iloc[0]
