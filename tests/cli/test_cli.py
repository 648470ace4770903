"""The mediaml command line, in-process with click's CliRunner."""

import json

import pytest
from click.testing import CliRunner

import mediaml
from mediaml.cli import cli


@pytest.fixture
def run(db, store):
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return invoke


def test_help_has_examples():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0 and "Examples:" in result.output
    for command in (
        "ingest",
        "run",
        "status",
        "retry",
        "embed",
        "search",
        "export",
        "db",
        "worker",
    ):
        assert command in result.output
        sub = CliRunner().invoke(cli, [command, "--help"])
        assert sub.exit_code == 0, command


def test_status_json_counts_every_state(run):
    result = run("status", "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["videos"]["new"] == 0 and "pending_review" in data["clips"]
    assert set(data["queues"]) == {
        "default",
        "media_processing",
        "background_jobs",
        "temp_clips",
        "maintenance",
    }


def test_ingest_missing_path_is_an_error(run, tmp_path):
    result = run("ingest", str(tmp_path / "nope.mp4"))
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_ingest_directory_without_videos(run, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    result = run("ingest", str(tmp_path))
    assert result.exit_code == 1 and "no video files" in result.output


def test_retry_requires_kind_with_ids(run):
    result = CliRunner().invoke(cli, ["retry", "3"])
    assert result.exit_code == 2 and "--videos or --clips" in result.output


def test_retry_nothing_failed(run):
    result = run("retry", "--json")
    assert result.exit_code == 0 and json.loads(result.output) == []


def test_export_then_import_refuses_non_empty(run, tmp_path):
    result = run("export", str(tmp_path / "x"), "--json")
    assert result.exit_code == 0 and json.loads(result.output)["clips"] == 0
    blocked = tmp_path / "file"
    blocked.write_text("")
    result = run("export", str(blocked / "y"))
    assert result.exit_code == 1 and result.output.startswith("Error: cannot write")


def test_db_upgrade_twice(run):
    first = run("db", "upgrade")
    second = run("db", "upgrade")
    assert first.exit_code == 0 and second.exit_code == 0
    assert "up to date" in second.output


def test_ingest_queues_new_videos_for_workers(run, db, tmp_path):
    from tests.support.media import Shot, make_multishot_video

    path = tmp_path / "one.mp4"
    make_multishot_video(path, [Shot("testsrc2", 10)])
    assert run("ingest", str(path), "--json").exit_code == 0
    with db.transaction() as conn:
        queued = conn.execute(
            "SELECT count(*) AS n FROM huey_task WHERE queue = 'media_processing'"
        ).fetchone()["n"]
        video = conn.execute(
            "SELECT state, enqueued_at IS NOT NULL AS q FROM source_videos"
        ).fetchone()
    assert queued == 1 and video == {"state": "new", "q": True}
    # Ingesting the same file again registers nothing new and queues nothing more.
    assert run("ingest", str(path)).exit_code == 0
    with db.transaction() as conn:
        assert conn.execute("SELECT count(*) AS n FROM huey_task").fetchone()["n"] == 1


def test_ingest_partial_failure_exit_code(run, tmp_path):
    from tests.support.media import Shot, make_multishot_video

    make_multishot_video(tmp_path / "good.mp4", [Shot("testsrc2", 10)])
    (tmp_path / "bad.mp4").write_text("not a video")
    result = run("ingest", str(tmp_path), "--no-queue")
    assert result.exit_code == 3
    assert "could not ingest" in result.output and "bad.mp4" in result.output


def test_search_unknown_clip_is_a_one_line_error(run):
    result = CliRunner().invoke(cli, ["search", "987654", "--model", "mediaml-descriptor-v1"])
    assert result.exit_code == 1
    assert result.output.startswith("Error:") and "987654" in result.output
    assert "Traceback" not in result.output


def test_search_needs_a_clip_or_text(run):
    result = CliRunner().invoke(cli, ["search"])
    assert result.exit_code == 2 and "CLIP_ID or --text" in result.output


def test_embed_images_json(run, tmp_path):
    from PIL import Image

    paths = []
    for i, colour in enumerate(("red", "blue")):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (64, 48), colour).save(path)
        paths.append(str(path))
    result = run("embed", *paths, "--model", "mediaml-descriptor-v1", "--json")
    assert result.exit_code == 0
    vectors = json.loads(result.output)["vectors"]
    assert len(vectors) == 2 and len(vectors[0]) == len(vectors[1]) > 0


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"mediaml, version {mediaml.__version__}"


def test_retry_of_unknown_ids_exits_non_zero(run):
    result = CliRunner().invoke(cli, ["retry", "--clips", "999"])
    assert result.exit_code == 1
    assert "999" in result.output and "not re-queued" in result.output


def test_export_refuses_a_folder_that_is_not_empty(run, tmp_path):
    target = tmp_path / "backup"
    assert run("export", str(target)).exit_code == 0
    before = {p.name: p.stat().st_mtime_ns for p in target.iterdir()}
    again = CliRunner().invoke(cli, ["export", str(target)])
    assert again.exit_code == 1 and "--overwrite" in again.output
    assert {p.name: p.stat().st_mtime_ns for p in target.iterdir()} == before
    assert run("export", str(target), "--overwrite").exit_code == 0


def test_a_database_gone_mid_command_is_a_one_line_error(run, db, db_url, pg_server):
    """The database stops (dropped here, with its connections cut) while a command holds
    its pool: one line saying what happened and what to do, not psycopg's traceback."""
    assert run("status").exit_code == 0  # the pool holds a live connection
    from psycopg.conninfo import conninfo_to_dict

    pg_server.drop_database(str(conninfo_to_dict(db_url)["dbname"]))
    result = CliRunner().invoke(cli, ["status"], catch_exceptions=False)
    assert result.exit_code == 1
    assert "Error: lost the database (" in result.output
    assert "check that it is running (DATABASE_URL) and run the command again" in result.output
    assert "Traceback" not in result.output
