"""The pipeline: stages as data, the dispatcher, the runner and in-process runs."""

from mediaml.pipeline.ingest import ingest
from mediaml.pipeline.retry import retry
from mediaml.pipeline.run import run_pipeline

__all__ = ["ingest", "retry", "run_pipeline"]
