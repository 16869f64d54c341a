from __future__ import annotations

import pytest

from scheduler.config import ConfigError, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TOCSIN_DATABASE_URL", "TOCSIN_LEASE_TTL", "TOCSIN_BROKER_URL"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings()
    assert settings.database_url == "sqlite:///tocsin.db"
    assert settings.lease_ttl == 10.0


def test_postgres_urls_use_psycopg3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOCSIN_DATABASE_URL", "postgresql://u@h/db")
    assert load_settings().database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("var", "value", "fragment"),
    [
        ("TOCSIN_LEASE_TTL", "-1", "TOCSIN_LEASE_TTL='-1' is invalid"),
        ("TOCSIN_LEASE_TTL", "soon", "TOCSIN_LEASE_TTL='soon' is invalid"),
        ("TOCSIN_API_PORT", "70000", "TOCSIN_API_PORT"),
        ("TOCSIN_DATABASE_URL", "mysql://x", "postgresql:// or sqlite:///"),
        ("TOCSIN_LOG_FORMAT", "xml", "TOCSIN_LOG_FORMAT"),
    ],
)
def test_bad_values_fail_with_one_line(monkeypatch, var, value, fragment) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)
