"""Third-party embedders and detectors, installed as a real distribution with entry points
(a dist-info folder on sys.path, as pip leaves it), then used by name through the pipeline."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import mediaml
from mediaml.config import load_settings, set_settings
from mediaml.embed import backends, get_embedder
from mediaml.errors import MediaError, ModelError
from mediaml.media.detectors import detectors, run_detector
from tests.support.media import Shot, make_multishot_video

PLUGIN = textwrap.dedent(
    '''
    """A plugin package as a third party would write it: it only imports mediaml."""
    import numpy as np
    import pandas as pd

    from mediaml.embed.embedder import Backend, Embedder, l2_normalize
    from mediaml.media.detectors import Detector


    class MeanColour(Embedder):
        name = "test-mean-colour"
        version = "1"
        dim = 3

        def prepare(self, image):
            pixels = np.asarray(image.convert("RGB").resize((16, 16)), dtype=np.float32)
            return pixels.reshape(-1, 3).mean(axis=0) + 1.0

        def infer(self, batch):
            return l2_normalize(batch)


    BACKEND = Backend("test-mean-colour", "mean RGB colour", MeanColour, lambda: (True, "built in"))


    def fixed_cuts(path):
        return pd.DataFrame({"frame": [60, 20]})


    DETECTOR = Detector("test-fixed-cuts", "cuts at frames 20 and 60", fixed_cuts)
    NOT_A_DETECTOR = 42
    '''
)

ENTRY_POINTS = textwrap.dedent(
    """
    [mediaml.embedders]
    mean-colour = mediaml_testplugin:BACKEND

    [mediaml.detectors]
    fixed-cuts = mediaml_testplugin:DETECTOR
    wrong-type = mediaml_testplugin:NOT_A_DETECTOR
    missing = mediaml_testplugin_gone:DETECTOR
    """
)


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    (site / "mediaml_testplugin-0.1.dist-info").mkdir(parents=True)
    (site / "mediaml_testplugin.py").write_text(PLUGIN)
    info = site / "mediaml_testplugin-0.1.dist-info"
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mediaml-testplugin\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield site
    sys.modules.pop("mediaml_testplugin", None)


def test_the_backends_listing_stays_a_function():
    import mediaml.embed
    import mediaml.embed.backends.descriptor

    assert callable(mediaml.embed.backends)
    assert "mediaml-descriptor-v1" in mediaml.embed.backends()


def test_unknown_names_are_not_found_without_the_plugin():
    with pytest.raises(ModelError, match=r"mediaml\.embedders"):
        get_embedder("test-mean-colour-never-installed")
    with pytest.raises(MediaError, match=r"mediaml\.detectors"):
        run_detector("test-fixed-cuts-never-installed", "x.mp4")


def test_installed_plugins_are_listed_and_broken_ones_left_out(installed_plugin, caplog):
    assert "test-mean-colour" in backends()
    found = detectors()
    assert {"mediaml", "test-fixed-cuts"} <= set(found)
    assert "wrong-type" not in found and "missing" not in found
    assert "is a int, not a Detector" in caplog.text
    assert "mediaml_testplugin_gone" in caplog.text and "failed to load" in caplog.text


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "three.mp4"
    make_multishot_video(
        path, [Shot("testsrc2", 30), Shot("mandelbrot", 25), Shot("smptebars", 30)]
    )
    return path


def use(tmp_path: Path, db_url: str, **variables: str) -> None:
    env = {"MEDIAML_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": db_url, **variables}
    set_settings(load_settings(env))


def test_plugin_detector_cuts_the_clips(installed_plugin, db, store, tmp_path, db_url, video):
    use(tmp_path, db_url, MEDIAML_DETECTOR="test-fixed-cuts")
    steps = mediaml.run_pipeline(video, until="review", progress=False)
    assert set(steps["result"]) == {"done"}, steps
    clips = mediaml.clips()
    # The plugin's cuts, not the built-in detector's (which finds 30 and 55).
    assert list(zip(clips["start_frame"], clips["end_frame"], strict=True)) == [
        (0, 20),
        (20, 60),
        (60, 85),
    ]


def test_plugin_embedder_embeds_and_searches(installed_plugin, db, store, tmp_path, db_url, video):
    embedder = get_embedder("test-mean-colour")
    assert embedder.embed_images([np.zeros((8, 8, 3), np.uint8)]).shape == (1, 3)
    use(tmp_path, db_url, MEDIAML_EMBED_MODEL="test-mean-colour")
    steps = mediaml.run_pipeline(video, auto_approve=True, progress=False)
    assert set(steps["result"]) == {"done"}, steps
    clips = mediaml.clips()
    assert set(clips["state"]) == {"embedded"}
    vectors = mediaml.embeddings()
    assert set(vectors["model_name"]) == {"test-mean-colour"}
    assert {len(v) for v in vectors["vector"]} == {3}
    assert len(mediaml.similar(int(clips["clip_id"].iloc[0]), k=2)) == 2
