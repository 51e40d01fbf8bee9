"""Deterministic UUIDs from a seeded generator, made in bulk.

Every table has its own id stream, keyed by generator version, seed and table name. A stream is
a sequence: ``take(a)`` then ``take(b)`` returns the same ids as ``take(a + b)``, so a child
table's generator can replay its parents' streams to learn their ids without reading anything
back from the database, and without holding a whole table in memory.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Callable

# Version-4 layout: the high nibble of byte 6 is the version, the top bits of byte 8 the variant.
_VERSION_4 = bytes((b & 0x0F) | 0x40 for b in range(256))
_VARIANT_RFC4122 = bytes((b & 0x3F) | 0x80 for b in range(256))


def stream_key(*, generator_version: int, seed: int, table: str, purpose: str) -> str:
    """The seed string of one random stream. Python seeds ``random.Random`` from a string
    through SHA-512, so the stream is the same on every platform and run."""
    return f"perfkit-datagen/v{generator_version}/seed={seed}/{table}/{purpose}"


@functools.cache
def _fast_uuid() -> Callable[[bytes], uuid.UUID]:
    """asyncpg's UUID type, imported when the first ids are made (importing a recipe loads no
    database driver)."""
    from asyncpg.pgproto.pgproto import UUID

    return UUID  # type: ignore[no-any-return]


class IdStream:
    """Version-4 UUIDs drawn from a seeded Mersenne Twister, 16 random bytes each."""

    def __init__(self, key: str) -> None:
        self._rng = random.Random(key)  # noqa: S311 (reproducible test data, not secrets)

    def take(self, n: int) -> list[uuid.UUID]:
        """The next ``n`` ids of the stream.

        The ids are asyncpg's own UUID type (a :class:`uuid.UUID` subclass that binary COPY
        writes without conversion and that is four times cheaper to make).
        """
        raw = bytearray(self._rng.randbytes(16 * n))
        raw[6::16] = raw[6::16].translate(_VERSION_4)
        raw[8::16] = raw[8::16].translate(_VARIANT_RFC4122)
        data = bytes(raw)
        fast = _fast_uuid()
        return [fast(data[i : i + 16]) for i in range(0, 16 * n, 16)]
