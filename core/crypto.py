"""Secrets and keys: generation, keyed digests, and encryption of private keys at rest.

- Machine secrets (client secrets, refresh tokens, invite tokens) are 256 random bits behind a
  recognisable prefix (`hmd_cs_…`) so secret scanners can find leaked ones. Only an HMAC-SHA256
  digest is stored: they are high-entropy, so a fast keyed hash is right (Argon2id is for the
  low-entropy passwords people choose). Callers compare digests with hmac.compare_digest.
- Private signing keys are encrypted with AES-256-GCM under a key derived (HKDF-SHA256) from
  HEIMDALL_KEY_ENCRYPTION_KEY, or from SECRET_KEY when that is unset; the key id is bound in as
  associated data so ciphertexts cannot be swapped between rows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

SECRET_PREFIXES = {
    "client_secret": "hmd_cs_",
    "refresh_token": "hmd_rt_",
    "invite_token": "hmd_inv_",
    "authorization_code": "hmd_ac_",
}


def _derive(material: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"heimdall-v1", info=purpose).derive(
        material.encode()
    )


@lru_cache(maxsize=1)
def _digest_key() -> bytes:
    return _derive(settings.SECRET_KEY, b"secret-digest")


@lru_cache(maxsize=1)
def _key_encryption_key() -> bytes:
    material = settings.HEIMDALL_KEY_ENCRYPTION_KEY or settings.SECRET_KEY
    return _derive(material, b"signing-key-encryption")


def new_secret(kind: str) -> str:
    """A fresh secret of `kind` (see SECRET_PREFIXES): prefix + 256 random bits, URL-safe."""
    return SECRET_PREFIXES[kind] + secrets.token_urlsafe(32)


def secret_digest(secret: str) -> str:
    """The keyed digest stored in place of a secret."""
    return hmac.new(_digest_key(), secret.encode(), hashlib.sha256).hexdigest()


def encrypt_private_key(plaintext: bytes, *, key_id: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_key_encryption_key()).encrypt(nonce, plaintext, key_id.encode())
    return "v1:" + base64.b64encode(nonce + sealed).decode()


def decrypt_private_key(blob: str, *, key_id: str) -> bytes:
    version, _, payload = blob.partition(":")
    if version != "v1":
        raise ValueError("unknown private-key envelope version")
    raw = base64.b64decode(payload)
    return AESGCM(_key_encryption_key()).decrypt(raw[:12], raw[12:], key_id.encode())


# ---- other secrets Heimdall must read back (identity-provider client secrets) ----------------------


@lru_cache(maxsize=8)
def _purpose_key(purpose: str) -> bytes:
    material = settings.HEIMDALL_KEY_ENCRYPTION_KEY or settings.SECRET_KEY
    return _derive(material, f"secret-encryption:{purpose}".encode())


def encrypt_secret(plaintext: str, *, purpose: str, key_id: str) -> str:
    """AES-256-GCM under a key of its own for `purpose` (distinct from the signing keys'), with
    `purpose:key_id` bound in as associated data: a ciphertext cannot move between rows or uses."""
    nonce = os.urandom(12)
    aad = f"{purpose}:{key_id}".encode()
    sealed = AESGCM(_purpose_key(purpose)).encrypt(nonce, plaintext.encode(), aad)
    return "v1:" + base64.b64encode(nonce + sealed).decode()


def decrypt_secret(blob: str, *, purpose: str, key_id: str) -> str:
    version, _, payload = blob.partition(":")
    if version != "v1":
        raise ValueError("unknown secret envelope version")
    raw = base64.b64decode(payload)
    aad = f"{purpose}:{key_id}".encode()
    return AESGCM(_purpose_key(purpose)).decrypt(raw[:12], raw[12:], aad).decode()
