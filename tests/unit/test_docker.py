"""docker/: checked for structure and syntax (no Docker engine here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"
ROOT = DOCKER.parent


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_has_the_production_topology() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "api", "scheduler-a",
                             "scheduler-b", "worker"}
    assert services["scheduler-a"]["command"][0] == "scheduler"
    assert services["scheduler-b"]["command"] == services["scheduler-a"]["command"]
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for role in ("api", "scheduler-a", "scheduler-b", "worker"):
        deps = services[role]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["redis"]["condition"] == "service_healthy"


def test_every_long_running_service_has_a_healthcheck() -> None:
    for name, svc in compose()["services"].items():
        if name == "migrate":
            continue
        check = svc.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), name


def test_tocsin_services_share_settings_and_point_at_the_services() -> None:
    services = compose()["services"]
    for role in ("migrate", "api", "scheduler-a", "scheduler-b", "worker"):
        env = services[role]["environment"]
        assert env["TOCSIN_DATABASE_URL"].startswith("postgresql://tocsin:tocsin@postgres:5432/")
        assert env["TOCSIN_BROKER_URL"] == "redis://redis:6379/0"
        assert services[role]["build"]["dockerfile"] == "docker/Dockerfile"


def test_service_commands_are_real_tocsin_commands() -> None:
    for role in ("migrate", "api", "scheduler-a", "worker"):
        command = compose()["services"][role]["command"][0]
        out = subprocess.run([sys.executable, "-m", "scheduler", command, "--help"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, (role, out.stderr)


def test_dockerfile_is_slim_non_root_and_copies_what_exists() -> None:
    lines = [ln.strip() for ln in (DOCKER / "Dockerfile").read_text().splitlines()]
    froms = [ln for ln in lines if ln.startswith("FROM ")]
    assert froms and all("slim" in ln for ln in froms)
    users = [ln for ln in lines if ln.startswith("USER ")]
    assert users and users[-1] not in ("USER root", "USER 0")
    assert any(ln.startswith("HEALTHCHECK") for ln in lines)
    assert 'ENTRYPOINT ["tocsin"]' in lines
    for ln in lines:
        if ln.startswith("COPY ") and "--from" not in ln:
            for src in ln.split()[1:-1]:
                assert (ROOT / src).exists(), src


def test_compose_names_the_api_hosts_no_function_domain_may_take() -> None:
    """#29: with neither setting, a project's rule could capture the API's own host."""
    env = compose()["services"]["api"]["environment"]
    assert env["TOCSIN_API_HOSTS"] and env["TOCSIN_PUBLIC_URL"]
