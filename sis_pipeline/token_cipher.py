"""Encryption of stored OAuth tokens: Fernet keys from SIS_TOKEN_KEY, newest first, older ones still readable."""

import logging
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

log = logging.getLogger(__name__)
KEY_ENV = "SIS_TOKEN_KEY"
_warned = False


class TokenCipher:
    """Encrypts with the first key; decrypts with any, so keys rotate by putting a new one in front."""

    def __init__(self, keys: list[str]):
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, ciphertext: str) -> str | None:
        """The token, or None when no configured key can read it (rotated out, or tampered with)."""
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            return None


def token_cipher(env=os.environ) -> TokenCipher | None:
    """The configured cipher; without SIS_TOKEN_KEY tokens stay in memory only, which is said once."""
    global _warned
    keys = [key.strip() for key in env.get(KEY_ENV, "").split(",") if key.strip()]
    if not keys:
        if not _warned:
            log.warning("%s is not set: OAuth tokens are kept in memory only and requested again by every run", KEY_ENV)
            _warned = True
        return None
    try:
        return TokenCipher(keys)
    except ValueError:
        raise ValueError(f"{KEY_ENV} must be comma-separated Fernet keys (Fernet.generate_key())") from None
