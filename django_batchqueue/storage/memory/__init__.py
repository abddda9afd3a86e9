"""``MemoryStorage``: batch state in this process's memory, **for tests only**.

It implements every verb of :class:`~django_batchqueue.storage.base.Storage` over dicts, like
procrastinate's ``InMemoryConnector``, so the fast test tier exercises the real state machines
without a database, Redis or worker processes. Units of work are serialised by one lock; they
are not rolled back on error (``supports_transactions = False``): the engine refuses bad input
before it writes. JSON values are stored encoded and read back decoded, as a database would
hand them back (Decimals, datetimes and UUIDs become strings).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ..composite import ComposedSteps
from .reads import MemoryReads
from .writes import MemoryWrites


class MemoryStorage(MemoryReads, MemoryWrites, ComposedSteps):
    """Every batch in a dict; one lock serialises every unit of work."""

    supports_transactions: ClassVar[bool] = False
    supports_querysets: ClassVar[bool] = False
    supports_durability: ClassVar[bool] = False


if TYPE_CHECKING:  # mypy checks the backend against the storage interface
    from ..base import Storage

    _implements: Storage = MemoryStorage()

__all__ = ["MemoryStorage"]
