"""mediaml: turn raw video into reviewed, searchable clips.

Quick start in a notebook::

    import mediaml
    mediaml.connect()            # embedded PostgreSQL unless DATABASE_URL is set
"""

from mediaml.db import connect
from mediaml.errors import MediamlError

__version__ = "0.1.0"

__all__ = ["MediamlError", "__version__", "connect"]
