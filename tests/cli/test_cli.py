"""The mediaml command line, in-process with click's CliRunner."""

import json

import pytest
from click.testing import CliRunner

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
