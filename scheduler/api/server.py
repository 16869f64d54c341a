"""How uvicorn serves the API: the same limits for `tocsin api` and `tocsin up`.

uvicorn has no timeout for reading a request's headers, so a slow client can hold
a connection half-open; what it does have bounds the damage: a cap on open
connections (beyond it, 503 at once), a short keep-alive, and a cap on incomplete
header bytes. In production put a reverse proxy in front (nginx:
``client_header_timeout``/``client_body_timeout``; it also terminates TLS).
"""

from __future__ import annotations

from typing import Any

from scheduler.config import Settings


def _options(settings: Settings) -> dict[str, Any]:
    return {"log_config": None, "access_log": False,
            "limit_concurrency": settings.api_max_connections, "timeout_keep_alive": 5,
            "h11_max_incomplete_event_size": 64 * 1024}


def uvicorn_config(app: Any, settings: Settings, host: str, port: int) -> Any:
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, **_options(settings))


def serve_processes(settings: Settings, host: str, port: int, workers: int) -> None:
    """``workers`` API processes on one port (uvicorn's supervisor; the kernel spreads
    connections), each building its app from the environment's settings."""
    import uvicorn

    uvicorn.run("scheduler.api.app:app_from_env", factory=True, host=host, port=port,
                workers=workers, **_options(settings))
