"""The runtimes a function may name, as Appwrite's SDKs spell them. Pure.

Every Python value of the SDK's ``Runtime`` enum runs in the python runner (the
worker's own interpreter: the version in the name is Appwrite's label, not a
different Python), ``node-18.0`` to ``node-22`` in a Node runner (the worker's own
``node``); ``http`` is Tocsin's extension (one HTTP request per run).
Anything else is refused with the list of what this node runs.
"""

from __future__ import annotations

from dataclasses import dataclass

HTTP = "http"
PYTHON = tuple(f"python-3.{minor}" for minor in range(8, 15)) + tuple(
    f"python-ml-3.{minor}" for minor in range(11, 14))
# The worker's own `node` runs them (the version in the name is Appwrite's label).
NODE = ("node-18.0", "node-19.0", "node-20.0", "node-21.0", "node-22")
SUPPORTED = (*PYTHON, *NODE, HTTP)


@dataclass(frozen=True)
class Runtime:
    id: str
    key: str
    name: str
    version: str

    def as_appwrite(self) -> dict[str, object]:
        """Appwrite's Runtime model (image fields name the runner, not a container)."""
        return {"$id": self.id, "key": self.key, "name": self.name, "version": self.version,
                "base": f"tocsin-runner:{self.id}", "image": f"tocsin-runner:{self.id}",
                "logo": f"{self.key}.png", "supports": ["amd64", "arm64"]}


def describe(runtime_id: str) -> Runtime:
    if runtime_id == HTTP:
        return Runtime(HTTP, HTTP, "HTTP (Tocsin)", "1")
    if runtime_id in NODE:
        return Runtime(runtime_id, "node", "Node.js", runtime_id.rsplit("-", 1)[1])
    ml = runtime_id.startswith("python-ml-")
    return Runtime(runtime_id, "python-ml" if ml else "python",
                   "Python (ML)" if ml else "Python", runtime_id.rsplit("-", 1)[1])


def is_python(runtime_id: str) -> bool:
    return runtime_id in PYTHON


def is_node(runtime_id: str) -> bool:
    return runtime_id in NODE


def rule() -> str:
    return f"Value must be one of ({', '.join(SUPPORTED)})"
