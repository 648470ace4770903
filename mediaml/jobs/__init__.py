"""Huey queues and tasks. Each queue is a module attribute, so a plain Huey consumer
works too::

    huey_consumer mediaml.jobs.media_processing -w 5 -k thread -g TERM -t 25

The usual way to run workers is ``mediaml worker`` (or ``python -m runners.worker``),
which reads ``MEDIAML_QUEUES`` and ``MEDIAML_SCHEDULER``.
"""

from mediaml.jobs import tasks
from mediaml.jobs.hueys import HUEYS, queue_depths, reset_connections

default = HUEYS["default"]
media_processing = HUEYS["media_processing"]
background_jobs = HUEYS["background_jobs"]
temp_clips = HUEYS["temp_clips"]
maintenance = HUEYS["maintenance"]

__all__ = [
    "HUEYS",
    "background_jobs",
    "default",
    "maintenance",
    "media_processing",
    "queue_depths",
    "reset_connections",
    "tasks",
    "temp_clips",
]
