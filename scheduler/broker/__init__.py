"""Handing executions over: creating them on request, publishing to Celery, the result channel."""
