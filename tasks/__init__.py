"""Tocsin's data plane: the Celery app and the execution task (`celery -A tasks.app worker`),
the runtimes, and the runner processes python functions run in.

Deliberately empty: a runner process imports ``tasks.runner`` and must not pay for
(or see) the Celery app.
"""
