"""Tocsin's control plane: time rules, store, leader lease, dispatcher, daemon, API, CLI."""

__version__ = "0.1.0"
