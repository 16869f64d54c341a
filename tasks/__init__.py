"""Tocsin's data plane: the Celery app and the execution task (`celery -A tasks worker`)."""

from tasks.app import app

__all__ = ["app"]
