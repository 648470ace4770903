"""A missing or broken FFmpeg binary is a clear MediaError, not a raw OSError."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_unrunnable_binary_is_a_media_error(tmp_path):
    fake = tmp_path / "ffmpeg"
    fake.write_text("not a program")  # exists, but is not executable
    env = {**os.environ, "PATH": str(tmp_path / "empty"), "IMAGEIO_FFMPEG_EXE": str(fake)}
    code = (
        "from mediaml.errors import MediaError\n"
        "from mediaml.media import run_ffmpeg\n"
        "try:\n    run_ffmpeg(['-version'])\n"
        "except MediaError as exc:\n    print('MediaError:', exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("MediaError:") and "ffmpeg" in out.stdout.lower()
