"""The Home page's figures."""

from __future__ import annotations

from dataclasses import dataclass

from lib import conversations, ledger
from lib.settings import Settings


@dataclass(frozen=True)
class Overview:
    conversations: int
    calls: int
    spend_today_micro: int


def overview(settings: Settings) -> Overview:
    path = settings.db_path
    return Overview(conversations.count(path), ledger.count(path),
                    ledger.spend_since_micro(path, ledger.today()))
