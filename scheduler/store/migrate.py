"""Running the Alembic history from code (``tocsin migrate``, ``tocsin up``, tests)."""

from __future__ import annotations

from importlib.util import find_spec

from alembic import command
from alembic.config import Config


def _history_dir() -> str:
    """Where the ``migrations`` package is installed. Found, not imported: the history
    sits above the store (its env.py imports the models), so the store must not
    import it."""
    spec = find_spec("migrations")
    assert spec is not None and spec.submodule_search_locations, "tocsin is installed"
    return next(iter(spec.submodule_search_locations))


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", _history_dir())
    # '%' is ConfigParser's interpolation character; URLs may contain it.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
