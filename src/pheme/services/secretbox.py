"""Encrypt secrets before they are stored, with a key derived from the server's secret.

Why this construction (stdlib only): HMAC-SHA256 as a PRF in counter mode
gives the keystream (a standard stream cipher construction), and an
HMAC-SHA256 tag over version, nonce and ciphertext authenticates it
(encrypt-then-MAC). Separate encryption and MAC keys are derived from the
server secret with HMAC (HKDF-expand style) and a purpose label, so the same
server secret can key other uses without reuse. A later issue replaces this
with the full encrypted secret store; the stored format is versioned (first
byte) so it can be migrated.

Nothing here ever logs or returns a plaintext except :meth:`SecretBox.open`.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from pheme.errors import ConfigError

__all__ = ["SecretBox"]

_VERSION = b"\x01"
_NONCE = 16
_TAG = 32


def _derive(key: bytes, label: bytes) -> bytes:
    return hmac.new(key, b"pheme-secretbox\x00" + label + b"\x01", hashlib.sha256).digest()


class SecretBox:
    def __init__(self, server_secret: bytes, purpose: str = "secrets") -> None:
        if not server_secret:
            raise ConfigError("the server secret is empty")
        label = purpose.encode("utf-8")
        self._enc = _derive(server_secret, b"enc:" + label)
        self._mac = _derive(server_secret, b"mac:" + label)

    def _stream(self, nonce: bytes, length: int) -> bytes:
        out = bytearray()
        counter = 0
        while len(out) < length:
            out += hmac.new(self._enc, nonce + counter.to_bytes(8, "big"), hashlib.sha256).digest()
            counter += 1
        return bytes(out[:length])

    def seal(self, plaintext: str) -> bytes:
        data = plaintext.encode("utf-8")
        nonce = os.urandom(_NONCE)
        cipher = bytes(a ^ b for a, b in zip(data, self._stream(nonce, len(data)), strict=True))
        tag = hmac.new(self._mac, _VERSION + nonce + cipher, hashlib.sha256).digest()
        return _VERSION + nonce + cipher + tag

    def open(self, sealed: bytes) -> str:
        """The plaintext; ConfigError (no detail) if the data was tampered with or the key changed."""
        if len(sealed) < 1 + _NONCE + _TAG or sealed[:1] != _VERSION:
            raise ConfigError("a stored secret cannot be read (unknown format)")
        nonce, cipher, tag = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE : -_TAG], sealed[-_TAG:]
        expected = hmac.new(self._mac, _VERSION + nonce + cipher, hashlib.sha256).digest()
        if not hmac.compare_digest(tag, expected):
            raise ConfigError("a stored secret cannot be decrypted (was the server secret changed?)")
        return bytes(a ^ b for a, b in zip(cipher, self._stream(nonce, len(cipher)), strict=True)).decode("utf-8")
