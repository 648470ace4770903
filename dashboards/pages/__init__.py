"""The dashboard's pages; each module has a ``page()`` that builds one session's view."""
