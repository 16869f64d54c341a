"""Ids Tocsin makes: 20 hex characters (80 random bits), valid Appwrite UIDs."""

from __future__ import annotations

import secrets


def new_id() -> str:
    return secrets.token_hex(10)
