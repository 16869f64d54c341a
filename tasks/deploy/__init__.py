"""Deployments on the worker's side: building uploaded code in the sandbox
(``builder``, ``build``) and unpacking built code to run it (``cache``).

Builds on ``tasks.runner`` (the sandbox) and the store; nothing in ``tasks.runner``
imports this package.
"""
