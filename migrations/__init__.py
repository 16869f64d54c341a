"""Alembic environment and versions; shipped in the package so `tocsin migrate` finds them."""
