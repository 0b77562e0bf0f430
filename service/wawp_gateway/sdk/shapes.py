"""Typed shapes of the object params the typed builders take (plain dicts at run time).

The catalog only says "object" for these, or lists bracket names (``file[url]``); the shapes
come from the param rules the gateway applies (``wawp/rules.py``).
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

__all__ = ["MediaFile", "Poll"]


class MediaFile(TypedDict):
    """A file Wawp downloads from ``url``; ``mimetype`` must suit the action (png or jpeg for
    images, application/pdf for files, audio/ogg for voice, video/mp4 for video)."""

    url: str
    mimetype: str
    filename: str


class Poll(TypedDict):
    """2-12 unique options of at most 254 characters each."""

    name: str
    options: list[str]
    multipleAnswers: NotRequired[bool]
