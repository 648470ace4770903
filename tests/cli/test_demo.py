"""The demo, with serving skipped, on a temporary data dir and this test's database."""

from click.testing import CliRunner

import mediaml
from mediaml.cli import cli


def test_demo_runs_the_whole_pipeline(db, settings, monkeypatch, caplog):
    monkeypatch.setenv("MEDIAML_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    result = CliRunner().invoke(cli, ["demo", "--no-serve"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.output
    # No CLIP files on this machine: the model policy says so once, and the demo uses
    # the offline descriptor.
    assert "embedding model: mediaml-descriptor-v1" in out
    notices = [r for r in caplog.records if "offline mediaml-descriptor-v1" in r.getMessage()]
    assert len(notices) == 1
    assert "demo finished" in out and "dashboard:" not in out
    clips = mediaml.clips()
    assert len(clips) == 11 and set(clips["state"]) == {"embedded"} and clips["is_demo"].all()
    assert set(mediaml.videos()["state"]) == {"done"}
    assert len(mediaml.embeddings(model="mediaml-descriptor-v1")) == 11
    assert (settings.data_dir / "demo-media" / "demo-patterns.mp4").exists()
