"""Test speed: reuse a small pool of RSA keys instead of generating two per App per test.

Generating a 2048-bit key costs ~0.1 s and every App gets two, so most tests spent their time
there. Keys come from a session-wide pool, handed out round-robin from the start for each test,
so the Apps of one test never share key material (isolation tests stay meaningful); a test that
needs more keys than the pool holds gets freshly generated ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

POOL_SIZE = 16
_pool: dict[tuple[int, int], list[Any]] = {}
_generate = rsa.generate_private_key


@pytest.fixture(autouse=True)
def fast_signing_keys() -> Iterator[None]:
    handed_out = 0

    def pooled(public_exponent: int, key_size: int, backend: Any = None) -> Any:
        nonlocal handed_out
        keys = _pool.setdefault((public_exponent, key_size), [])
        if handed_out >= POOL_SIZE:
            return _generate(public_exponent=public_exponent, key_size=key_size)
        while len(keys) <= handed_out:
            keys.append(_generate(public_exponent=public_exponent, key_size=key_size))
        handed_out += 1
        return keys[handed_out - 1]

    with mock.patch("tokens.algorithms.rsa.generate_private_key", pooled):
        yield
