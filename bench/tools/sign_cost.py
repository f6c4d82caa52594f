"""Signing cost per algorithm, in-process: microseconds per access token with Heimdall's own code.

    DEBUG=true .venv/bin/python bench/tools/sign_cost.py [--seconds 1.0] [--repeats 5]

For RS256, ES256 and EdDSA, with keys made by tokens.algorithms (as every App key is):

- `sign`: tokens.keys.access_token_sign, the function every grant calls (claims, JOSE header,
  PyJWT encode, the signature); the private key is already decrypted, as it is after a process's
  first token;
- `raw`: the bare signature over a token-sized message (cryptography), to show what the JOSE
  layer adds;
- `verify`: tokens.state's check of the same token through the authorization state, with the
  verified-token cache bypassed (what a token costs the first time a process sees it);
- `keygen`: generating one key (rotation and App creation only).

Each figure is the median of `--repeats` timed runs of about `--seconds` of CPU time each (the
thread's CPU time, so other processes on the machine inflate it less than wall time). No database:
the App snapshot and keys are built in memory. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django

ALGORITHMS = ("RS256", "ES256", "EdDSA")


def _per_call_us(fn: Callable[[], Any], *, seconds: float, repeats: int) -> float:
    """Median over `repeats` runs of the mean CPU time of one call, in microseconds.

    CPU time of this thread (`time.thread_time`), not wall time: on a shared machine the time
    spent waiting for a core is not the cost of signing."""
    fn()  # warm
    start = time.thread_time()
    n = 0
    while time.thread_time() - start < 0.05:
        fn()
        n += 1
    per_run = max(1, int(n * seconds / 0.05))
    results = []
    for _ in range(repeats):
        began = time.thread_time()
        for _ in range(per_run):
            fn()
        results.append((time.thread_time() - began) / per_run * 1e6)
    return statistics.median(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure (median)")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heimdall.settings")
    django.setup()

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    from core.conf import heimdall_settings
    from rbac import permissions as perms
    from tokens import algorithms, state
    from tokens.keys import access_token_sign
    from tokens.state import AppSnapshot, AuthzState, _Key

    # An authorization state of our own, fed in memory (no follower thread, no database).
    authz = AuthzState()
    state._state = authz
    message = b"x" * 600  # about a token's signing input
    rows = []
    for number, algorithm in enumerate(ALGORITHMS):
        app_id, kid = f"app_bench{number}", f"key_bench{number}"
        private = algorithms.generate_private_key(algorithm, rsa_bits=heimdall_settings.SIGNING_KEY_BITS)
        authz._private_keys[kid] = private
        snapshot = AppSnapshot(
            id=app_id,
            slug=f"bench-{algorithm.lower()}",
            status="active",
            is_operator=False,
            settings={},
            declared=frozenset({"docs.read"}),
            management=perms.management_permissions(operator=False),
            roles={"reader": ("docs.read",)},
            signing_kid=kid,
        )
        authz._apps[app_id] = snapshot
        authz._keys[kid] = _Key(app_id=app_id, public_key=private.public_key(), algorithm=algorithm)

        def sign(snapshot: AppSnapshot = snapshot) -> str:
            return access_token_sign(
                app=snapshot,
                subject="m2m_01jkbenchbenchbenchbenchbe",
                client_id="m2m_01jkbenchbenchbenchbenchbe",
                roles=["reader"],
                scope=frozenset({"docs.read"}),
                ttl=3600,
                narrowed=False,
            )[0]

        token = sign()
        assert authz._verify_signature(token)[1] is None, f"{algorithm}: our own token does not verify"

        if algorithm == "RS256":
            raw: Callable[[], Any] = lambda k=private: k.sign(message, padding.PKCS1v15(), hashes.SHA256())  # noqa: E731
        elif algorithm == "ES256":
            raw = lambda k=private: k.sign(message, ec.ECDSA(hashes.SHA256()))  # noqa: E731
        else:
            raw = lambda k=private: k.sign(message)  # noqa: E731

        figures = {
            "sign": _per_call_us(sign, seconds=args.seconds, repeats=args.repeats),
            "raw": _per_call_us(raw, seconds=args.seconds, repeats=args.repeats),
            "verify": _per_call_us(
                lambda t=token: authz._verify_signature(t), seconds=args.seconds, repeats=args.repeats
            ),
            "keygen": _per_call_us(
                lambda a=algorithm: algorithms.generate_private_key(
                    a, rsa_bits=heimdall_settings.SIGNING_KEY_BITS
                ),
                seconds=min(args.seconds, 0.5),
                repeats=3,
            ),
            "bytes": len(token),
        }
        rows.append((algorithm, figures))

    rs256 = rows[0][1]["sign"]
    print(f"signing cost per access token, in-process (median of {args.repeats} runs, CPU µs per call)")
    print(f"{'alg':<6} {'sign':>9} {'vs RS256':>9} {'raw sig':>9} {'verify':>9} {'keygen':>10} {'token B':>8}")
    for algorithm, f in rows:
        print(
            f"{algorithm:<6} {f['sign']:>9.1f} {rs256 / f['sign']:>8.1f}x {f['raw']:>9.1f} "
            f"{f['verify']:>9.1f} {f['keygen']:>10.0f} {f['bytes']:>8}"
        )
    print(f"(RSA keys: {heimdall_settings.SIGNING_KEY_BITS} bits; `vs RS256`: how many times faster than RS256)")


if __name__ == "__main__":
    main()
