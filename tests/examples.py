"""Shared test values: chat ids, and valid params for every catalog action."""

from __future__ import annotations

from strategies import example_params as valid_params

__all__ = ["CHANNEL", "CHAT", "GROUP", "valid_params"]

CHAT = "447441429009@c.us"
GROUP = "120363012345678901@g.us"
CHANNEL = "120363098765432109@newsletter"
