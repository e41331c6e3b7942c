"""Director replies stored on disk, so a chapter runs again offline with the same frames.

A record is keyed by the sha256 of what decides the reply: backend, model, server (as a hash of
its address), the conversation sent (which holds the instruction and the prompt), frame count,
fps, temperature and seed. It holds those fields and the replies; never an API key or a server
address. A cache that cannot be written is reported as a warning and the run goes on.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..runtime import write_text_atomic

ENV = "DIRECT2V_CACHE"


def default_folder() -> Path:
    """``$DIRECT2V_CACHE`` or ``~/.cache/direct2v/director``."""
    return Path(os.environ.get(ENV) or Path.home() / ".cache" / "direct2v" / "director")


class ReplyCache:
    """JSON files ``<sha256>.json`` in ``folder``; written atomically, created on first write."""

    def __init__(self, folder: str | os.PathLike | None = None):
        self.folder = Path(folder) if folder is not None else default_folder()

    def __repr__(self) -> str:
        return f"ReplyCache({str(self.folder)!r})"

    @staticmethod
    def key(fields: dict) -> str:
        return hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, fields: dict) -> list[str] | None:
        """The stored replies for ``fields``, or None (also for an unreadable file)."""
        path = self.path(self.key(fields))
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        replies = record.get("replies") if isinstance(record, dict) else None
        if not isinstance(replies, list) or not all(isinstance(r, str) for r in replies):
            return None
        return replies

    def put(self, fields: dict, replies: list[str]) -> Path:
        path = self.path(self.key(fields))
        write_text_atomic(path, json.dumps({"key": fields, "replies": replies}, indent=1, ensure_ascii=False))
        return path
