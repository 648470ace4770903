"""The one embedding model policy (mediaml.embed.policy), from the pure choice to the
pipeline, the CLI and a production worker boot."""

from __future__ import annotations

import ast
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import mediaml
from mediaml.cli import cli
from mediaml.config import load_settings, set_settings
from mediaml.embed.policy import (
    AUTO,
    FALLBACK,
    PREFERRED,
    choose_model,
    default_model,
    forget_choices,
    model_choice,
)
from mediaml.errors import ConfigError, NotFoundError
from tests.support.media import Shot, make_multishot_video

ROOT = Path(__file__).resolve().parents[2]


def available(result):
    return lambda name: result


@pytest.fixture(autouse=True)
def _fresh_choice():
    forget_choices()
    yield
    forget_choices()


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "two shots.mp4"
    make_multishot_video(path, [Shot("testsrc2", 20), Shot("smptebars", 20)])
    return path


def test_auto_prefers_clip_when_its_files_are_here():
    choice = choose_model(
        AUTO, production=False, available=available((True, "found in /m")), models_dir=Path("/m")
    )
    assert (choice.name, choice.fallback) == (PREFERRED, False)
    assert "/m" in choice.reason


def test_auto_falls_back_in_development_and_says_what_to_do():
    choice = choose_model(
        AUTO, production=False, available=available((False, "missing")), models_dir=Path("/m")
    )
    assert (choice.name, choice.fallback) == (FALLBACK, True)
    # Where to put CLIP, how to download it, and how to silence the notice.
    assert f"/m/{PREFERRED}" in choice.reason
    assert f"MEDIAML_EMBED_MODEL={PREFERRED}" in choice.reason
    assert f"MEDIAML_EMBED_MODEL={FALLBACK}" in choice.reason


def test_auto_never_falls_back_in_production():
    choice = choose_model(
        AUTO, production=True, available=available((False, "missing")), models_dir=Path("/m")
    )
    assert (choice.name, choice.fallback) == (PREFERRED, False)


def test_a_model_name_means_that_model():
    choice = choose_model(
        "clip-vit-base-patch32-int8",
        production=False,
        available=available((False, "missing")),
        models_dir=Path("/m"),
    )
    assert (choice.name, choice.fallback) == ("clip-vit-base-patch32-int8", False)


def test_the_default_is_auto_and_resolves_offline_with_one_notice(settings, caplog):
    assert settings.embed_model == AUTO
    caplog.set_level(logging.INFO, logger="mediaml.embed.policy")
    names = {default_model() for _ in range(5)} | {model_choice(settings).name}
    assert names == {FALLBACK}
    notices = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(notices) == 1 and "offline" in notices[0].getMessage()


def test_a_model_folder_cut_short_is_named_with_what_it_lacks(tmp_path, caplog):
    """CLIP's small files copied but not its ONNX weights (a copy or download cut short):
    the notice says which files are missing, not that CLIP "is not on this machine"."""
    from tests.support.embed import write_tiny_clip_model

    folder = write_tiny_clip_model(tmp_path / "models")
    for weights in (folder / "onnx").glob("*.onnx"):
        weights.unlink()
    settings = load_settings(
        {"MEDIAML_MODEL_DIR": str(tmp_path / "models"), "MEDIAML_DATA_DIR": str(tmp_path)}
    )
    set_settings(settings)
    caplog.set_level(logging.WARNING, logger="mediaml.embed.policy")
    assert model_choice(settings).name == FALLBACK
    (notice,) = [r.getMessage() for r in caplog.records]
    assert notice.startswith(
        f"{folder} lacks onnx/vision_model.onnx, onnx/text_model.onnx, so clips are embedded "
        "with the offline mediaml-descriptor-v1 model"
    ), notice


def test_only_the_policy_reads_the_configured_model_name():
    """Every other module asks the policy, so ``auto`` can never reach SQL or a loader."""
    readers = []
    for path in [*ROOT.glob("mediaml/**/*.py"), *ROOT.glob("dashboards/**/*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "embed_model":
                readers.append(str(path.relative_to(ROOT)))
    assert set(readers) == {"mediaml/embed/policy.py"}, readers


def test_pipeline_embeds_with_the_fallback_without_any_model_variable(
    db, store, video, caplog, monkeypatch
):
    for name in ("MEDIAML_EMBED_MODEL", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    steps = mediaml.run_pipeline(video, auto_approve=True, progress=False)
    assert set(steps["result"]) == {"done"}, steps
    assert set(mediaml.clips()["state"]) == {"embedded"}
    assert set(mediaml.embeddings()["model_name"]) == {FALLBACK}
    notices = [r for r in caplog.records if r.name == "mediaml.embed.policy"]
    assert len([r for r in notices if r.levelno == logging.WARNING]) == 1


def test_a_named_model_that_is_missing_stops_the_run_once_before_any_work(
    db, store, video, tmp_path, db_url, monkeypatch
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # this test is about the missing files
    set_settings(
        load_settings(
            {
                "MEDIAML_DATA_DIR": str(tmp_path / "data"),
                "DATABASE_URL": db_url,
                "MEDIAML_EMBED_MODEL": PREFERRED,
            }
        )
    )
    with pytest.raises(ConfigError, match="cannot be loaded") as raised:
        mediaml.run_pipeline(video, auto_approve=True, progress=False)
    assert "onnx/vision_model.onnx" in str(raised.value)
    assert mediaml.videos().empty  # nothing was even ingested


def test_search_of_a_clip_with_vectors_of_another_model_suggests_that_model(db, store, video):
    mediaml.run_pipeline(video, auto_approve=True, progress=False)
    clip_id = int(mediaml.clips()["clip_id"].iloc[0])
    with pytest.raises(NotFoundError, match=f"model='{FALLBACK}'"):
        mediaml.similar(clip_id, model=PREFERRED)
    result = CliRunner().invoke(cli, ["search", str(clip_id), "--model", PREFERRED])
    assert result.exit_code == 1
    assert f"--model {FALLBACK}" in result.output
    # Without --model the default (auto -> the descriptor here) finds the other clip.
    found = CliRunner().invoke(cli, ["search", str(clip_id), "--json"])
    assert found.exit_code == 0, found.output


def test_production_worker_refuses_to_boot_without_its_model(tmp_path, db_url, s3_endpoint):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIAML_", "DATABASE_URL"))}
    env.update(
        {
            "MEDIAML_ENV": "production",
            "DATABASE_URL": db_url,
            "SECRET_KEY_BASE": "x" * 40,
            "PUBLIC_HOST": "mediaml.example.com",
            "PROD_S3_BUCKET_NAME": "mediaml-test",
            "PROD_CLOUDFRONT_DOMAIN": "d1.cloudfront.net",
            "CLOUDFRONT_KEY_PAIR_ID": "K1",
            "CLOUDFRONT_PRIVATE_KEY": "unused",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "MEDIAML_S3_ENDPOINT_URL": s3_endpoint,
            "MEDIAML_DATA_DIR": str(tmp_path / "data"),
            "MEDIAML_QUEUES": "media_processing",
            "HF_HUB_OFFLINE": "1",  # no download: the files are simply not there
        }
    )
    result = subprocess.run(
        [sys.executable, "-m", "runners.worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    line = [x for x in result.stderr.splitlines() if "boot failed" in x]
    assert line and "MEDIAML_EMBED_MODEL=auto" in line[0] and "cannot be loaded" in line[0]
    assert "Traceback" not in result.stderr
