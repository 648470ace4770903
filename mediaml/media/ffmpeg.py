"""The one FFmpeg runner: argument lists in, a clear `MediaError` out.

Every FFmpeg process mediaml starts goes through `FfmpegProcess`, so all of them get the
same treatment: no stdin (FFmpeg never waits for a keypress), the stderr tail kept for the
error message, a timeout after which the process is killed, and progress parsed from
``-progress`` lines. Outputs are written through `atomic_output` so a failed or killed run
never leaves a file that looks complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from mediaml.errors import MediaError, required
from mediaml.files import atomic_path

STDERR_TAIL_LINES = 20
"""How many stderr lines a `MediaError` carries."""


def ffmpeg_exe() -> str:
    """The FFmpeg binary: ``ffmpeg`` on PATH, else the one in the imageio-ffmpeg wheel.

    Raises:
        MediaError: neither exists.
    """
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError) as exc:
        raise MediaError(
            "no FFmpeg found: install ffmpeg on PATH (Debian: apt-get install ffmpeg) or "
            "`pip install 'mediaml[local]'` for the FFmpeg wheel"
        ) from exc


def _lower_priority(pid: int, nice: int) -> None:
    """Run process ``pid`` ``nice`` steps below this one (set just after it starts: its
    first milliseconds, before FFmpeg has read anything, run at the old priority)."""
    setpriority = getattr(os, "setpriority", None)  # POSIX only
    if setpriority is None:
        return
    with contextlib.suppress(OSError):  # it exited already
        setpriority(os.PRIO_PROCESS, pid, os.getpriority(os.PRIO_PROCESS, 0) + nice)


def _tail(lines: deque[str]) -> str:
    return " | ".join(line.strip() for line in lines if line.strip())


class FfmpegProcess:
    """One running FFmpeg; use as a context manager and call `wait`.

    Args:
        args: FFmpeg arguments after the executable (no ``-progress``: added here).
        timeout: seconds after which FFmpeg is killed and `wait` raises.
        progress: called with the fraction done (0..1) as FFmpeg reports its position.
        duration: seconds of media the run will produce, to turn positions into fractions.
        stdout: ``subprocess.PIPE`` to read FFmpeg's output (e.g. raw frames), else dropped.
        nice: how much lower than this process FFmpeg runs (POSIX niceness, 0: the same),
            for background work that must not slow down what a user waits for.
    """

    def __init__(
        self,
        args: list[str],
        *,
        timeout: float | None = None,
        progress: Callable[[float], None] | None = None,
        duration: float | None = None,
        stdout: int = subprocess.DEVNULL,
        nice: int = 0,
    ) -> None:
        self.args = args
        self.timeout = timeout
        self.progress = progress
        self.duration = duration
        self.timed_out = False
        self._tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
        if progress is not None:
            cmd += ["-progress", "pipe:2", "-stats_period", "0.5"]
        try:
            self.proc = subprocess.Popen(
                [*cmd, *args],
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.PIPE,
                bufsize=0,
            )
        except OSError as exc:  # the binary vanished or is not executable
            raise MediaError(
                f"cannot run FFmpeg at {cmd[0]} ({exc.strerror or exc}); install ffmpeg on "
                "PATH or reinstall imageio-ffmpeg"
            ) from None
        if nice > 0:
            _lower_priority(self.proc.pid, nice)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        self._timer: threading.Timer | None = None
        if timeout is not None:
            self.set_timeout(timeout)

    def set_timeout(self, timeout: float) -> None:
        """Stop FFmpeg ``timeout`` seconds from now (replaces the timeout set before, if
        any): for a caller that learns how long the run may take only once FFmpeg runs."""
        if self._timer is not None:
            self._timer.cancel()
        self.timeout = timeout
        self._timer = threading.Timer(timeout, self._on_timeout)
        self._timer.daemon = True
        self._timer.start()

    @property
    def stdout(self) -> IO[bytes]:
        """FFmpeg's stdout (only when started with ``stdout=subprocess.PIPE``)."""
        return required(self.proc.stdout, "FFmpeg's stdout pipe")

    def _on_timeout(self) -> None:
        self.timed_out = True
        self.kill()

    def kill(self) -> None:
        """Stop FFmpeg now (safe to call when it has already exited)."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()

    def _read_stderr(self) -> None:
        stderr = required(self.proc.stderr, "FFmpeg's stderr pipe")
        for raw in iter(stderr.readline, b""):
            line = raw.decode("utf-8", "replace")
            if line.startswith("out_time_us="):
                self._report(line)
            elif "=" in line and " " not in line.strip():
                continue  # the other key=value lines of -progress
            else:
                self._tail.append(line)

    def _report(self, line: str) -> None:
        if self.progress is None or not self.duration:
            return
        with contextlib.suppress(ValueError):
            seconds = int(line.split("=", 1)[1]) / 1e6
            self.progress(min(1.0, max(0.0, seconds / self.duration)))

    def wait(self) -> subprocess.CompletedProcess[bytes]:
        """Wait for FFmpeg to finish.

        Raises:
            MediaError: FFmpeg failed or was killed by the timeout; carries the stderr tail.
        """
        try:
            code = self.proc.wait()
        finally:
            if self._timer is not None:
                self._timer.cancel()
        self._reader.join(timeout=5)
        if self.timed_out:
            raise MediaError(
                f"ffmpeg took longer than {self.timeout:g}s and was stopped: {_tail(self._tail)}"
            )
        if code != 0:
            raise MediaError(f"ffmpeg failed (exit {code}): {_tail(self._tail) or 'no output'}")
        if self.progress is not None:
            self.progress(1.0)
        return subprocess.CompletedProcess(self.args, code, b"", _tail(self._tail).encode())

    def __enter__(self) -> FfmpegProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        # Leaving early (an exception in the caller) must not leave FFmpeg running.
        if self.proc.poll() is None:
            self.kill()
            self.proc.wait()
        if self._timer is not None:
            self._timer.cancel()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def run_ffmpeg(
    args: list[str],
    *,
    timeout: float | None = None,
    progress: Callable[[float], None] | None = None,
    duration: float | None = None,
    nice: int = 0,
) -> subprocess.CompletedProcess[bytes]:
    """Run FFmpeg with ``args`` (everything after the executable) to completion.

    Args:
        args: e.g. ``["-i", "in.mp4", "-c", "copy", "out.mp4"]``.
        timeout: seconds after which FFmpeg is killed (None: no limit).
        progress: called with the fraction done, 0..1 (needs ``duration``).
        duration: seconds of media the run produces, for progress fractions.
        nice: run FFmpeg this much lower in CPU priority (background work).

    Returns:
        The completed process; ``stderr`` holds the tail of FFmpeg's log.

    Raises:
        MediaError: FFmpeg failed or timed out (the message carries its stderr tail).
    """
    with FfmpegProcess(
        args, timeout=timeout, progress=progress, duration=duration, nice=nice
    ) as proc:
        return proc.wait()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for FFmpeg to write; rename it on success.

    :func:`mediaml.files.atomic_path`, plus a check that FFmpeg wrote something: if the
    block raises (FFmpeg failed, timed out, was interrupted) or the output is empty,
    ``path`` is left untouched.
    """
    final = Path(path)
    with atomic_path(final) as temp:
        yield temp
        if not temp.exists() or temp.stat().st_size == 0:
            raise MediaError(f"ffmpeg produced no output for {final.name}")
