"""Runner processes: every python execution runs in a child process the worker starts,
limits and can kill, never in the worker itself (Appwrite runs each function in its own
runtime container; this is the same promise without Docker).

* ``context.py`` — the Appwrite function context, inside the runner.
* ``child.py`` — the runner's main loop (``python -m tasks.runner.child``).
* ``env.py`` — the clean environment a runner gets. Pure.
* ``pool.py`` — warm runners per function and code, the timeout kill, crash reports.
* ``outcome.py`` — what a run ended with, as every runtime returns it.
* ``sandbox.py`` — the bubblewrap confinement; ``orphans.py`` — the subreaper.

Imports nothing from ``tasks.app``: a runner must not load (or see) the worker's
Celery app and settings.
"""
