"""Process entry points: ``runners.worker`` (queue consumers) and ``runners.web``."""
