"""Thin route modules: parse, authorise, call the store, serialise."""
