"""``RedisStorage``: batch state in Redis (``BATCHQUEUE["STORAGE"] = "redis"``).

Batches and rows are hashes, indexed by sorted sets; every transition that decides who acts is
one Lua script (:mod:`.lua`); decisions about one batch tree are serialised by a lock key per
tree (:mod:`.units`). Finished trees expire as a whole ``BATCHQUEUE["REDIS_TTL"]`` seconds after
their outcome was acted on; unfinished ones never expire. Nothing is written to the ``Batch`` /
``BatchJob`` tables. See docs/storage.md for what survives a restart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ..composite import ComposedSteps
from .upkeep import RedisUpkeep


class RedisStorage(RedisUpkeep, ComposedSteps):
    """Batch state in Redis, decided by atomic scripts."""

    supports_transactions: ClassVar[bool] = False
    supports_querysets: ClassVar[bool] = False
    supports_durability: ClassVar[bool] = True


if TYPE_CHECKING:  # mypy checks the backend against the storage interface
    from ..base import Storage

    _implements: Storage = RedisStorage()

__all__ = ["RedisStorage"]
