"""The environment a runner process sees. Pure.

Nothing of the worker's environment reaches a function but a short allow-list
(``PASSED``) and names the operator passes on purpose (``TOCSIN_RUNNER_PASS_ENV``,
never a ``TOCSIN_*`` one); then the function's variables; then Appwrite's
``APPWRITE_FUNCTION_*`` values, which variables cannot override.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from scheduler.rules.specifications import Spec

PASSED = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ")
# Per execution (set by the runner before each call, not at spawn).
EXECUTION_ID = "APPWRITE_FUNCTION_EXECUTION_ID"


def runtime_name_version(runtime: str) -> tuple[str, str]:
    """``python-3.12`` -> ("Python", "3.12"); ``python-ml-3.11`` -> ("Python (ML)", "3.11")."""
    parts = runtime.split("-")
    name = "Python (ML)" if "ml" in parts else "Python"
    version = next((p for p in parts if p[:1].isdigit()), "")
    return name, version


def runner_env(worker_env: Mapping[str, str], passed: Iterable[str],
               variables: Mapping[str, str], *, project_id: str, function_id: str,
               function_name: str, runtime: str, spec: Spec, api_endpoint: str,
               import_path: Iterable[str], home: str) -> dict[str, str]:
    allowed = {*PASSED, *(p for p in passed if not p.upper().startswith("TOCSIN_"))}
    env = {k: v for k, v in worker_env.items() if k in allowed}
    env.update(variables)
    name, version = runtime_name_version(runtime)
    env.update({
        "APPWRITE_FUNCTION_ID": function_id,
        "APPWRITE_FUNCTION_NAME": function_name,
        "APPWRITE_FUNCTION_PROJECT_ID": project_id,
        "APPWRITE_FUNCTION_RUNTIME_NAME": name,
        "APPWRITE_FUNCTION_RUNTIME_VERSION": version,
        "APPWRITE_FUNCTION_API_ENDPOINT": api_endpoint,
        "APPWRITE_FUNCTION_CPUS": f"{spec.cpus:g}",
        "APPWRITE_FUNCTION_MEMORY": str(spec.memory),
        # The worker's interpreter with the worker's import path (module entrypoints
        # stay importable), unbuffered so a crash loses no printed line.
        "PYTHONPATH": ":".join(p for p in import_path if p),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": home,
    })
    return env
