"""The JWS algorithms an App's signing keys may use, and what each one means for a key.

One algorithm per key, fixed when the key is generated (App setting `signingAlgorithm` at that
moment) and stored with it:

- `RS256`: RSASSA-PKCS1-v1_5 with SHA-256, an RSA key of `HEIMDALL_SIGNING_KEY_BITS` bits;
- `ES256`: ECDSA on P-256 with SHA-256;
- `EdDSA`: Ed25519 (the JOSE name registered by RFC 8037, which stock libraries accept).

A token verifies only with the key its `kid` names, and only when its header's `alg` is exactly
that key's algorithm: no algorithm is ever chosen from the token alone (no `none`, no HMAC keyed
with a public key, no RS256 header against an EC key).
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from tenants.models import SIGNING_ALGORITHMS

RS256, ES256, EDDSA = SIGNING_ALGORITHMS


def generate_private_key(algorithm: str, *, rsa_bits: int) -> Any:
    """A fresh private key for `algorithm` (ValueError for any other name)."""
    if algorithm == RS256:
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    if algorithm == ES256:
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == EDDSA:
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported signing algorithm {algorithm!r}")


def public_key_fits(algorithm: str, public_key: Any) -> bool:
    """Whether `public_key` is the kind of key `algorithm` signs with (P-256 only for ES256)."""
    if algorithm == RS256:
        return isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size >= 2048
    if algorithm == ES256:
        return isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1)
    if algorithm == EDDSA:
        return isinstance(public_key, ed25519.Ed25519PublicKey)
    return False


def algorithm_of_private_key(private_key: Any) -> str:
    """The algorithm a private key of ours signs with (its type decides: a key signs only its own)."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return ES256
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return EDDSA
    if isinstance(private_key, rsa.RSAPrivateKey):
        return RS256
    raise ValueError("not a signing key of a supported algorithm")


def public_jwk(algorithm: str, public_key: Any, *, kid: str) -> dict[str, Any]:
    """The public JWK (RFC 7517/7518/8037) a stock client verifies with: `kty` and the key's
    public parameters (`n`/`e`; `crv`/`x`/`y`; `crv`/`x`), plus `kid`, `use: sig` and `alg`."""
    if not public_key_fits(algorithm, public_key):
        raise ValueError(f"key {kid} does not fit its algorithm {algorithm!r}")
    if algorithm == RS256:
        jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    elif algorithm == ES256:
        jwk = ECAlgorithm.to_jwk(public_key, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public_key, as_dict=True)
    # PyJWT adds `key_ops: ["verify"]` to RSA keys; RFC 7517 (4.3) says not to send both `use`
    # and `key_ops`, so every key carries `use: sig` alone.
    jwk.pop("key_ops", None)
    jwk.update({"kid": kid, "use": "sig", "alg": algorithm})
    return jwk
