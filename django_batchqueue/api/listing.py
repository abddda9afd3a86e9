"""A storage listing shaped like a queryset for DRF's paginator: ``count()`` and slices.

Django's ``Paginator`` only needs those two, so the API pages through any storage backend with
one count and one read per page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Listing:
    """``items(offset, limit)`` and ``count()`` of one storage read, sliceable."""

    def __init__(self, items: Callable[[int, int], list[Any]], count: Callable[[], int]) -> None:
        self._items = items
        self._count = count
        self._counted: int | None = None

    def count(self) -> int:
        if self._counted is None:
            self._counted = self._count()
        return self._counted

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[Any]:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("a Listing is read in slices")
        start = index.start or 0
        stop = index.stop if index.stop is not None else self.count()
        return self._items(start, max(stop - start, 0))
