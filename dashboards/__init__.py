"""The Panel dashboard: review, explore and status pages on one server.

``mediaml serve`` (or ``python -m runners.web``) runs it; ``panel serve dashboards/app.py
--plugins dashboards.routes`` works too. This package imports :mod:`mediaml`; mediaml never
imports it.
"""
