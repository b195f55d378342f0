"""Encryption of stored OAuth tokens: Fernet keys from SIS_TOKEN_KEY, newest first, older ones still readable."""

import logging
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from sis_pipeline.config import ConfigError

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
        bad = next(number for number, key in enumerate(keys, 1) if not _is_fernet_key(key))
        raise ConfigError(
            f"{KEY_ENV}: key {bad} of {len(keys)} is not a Fernet key (32 url-safe base64-encoded bytes); "
            "expected comma-separated keys from Fernet.generate_key(), newest first"
        ) from None


def check_token_key(env=os.environ) -> None:
    """Refuse a SIS_TOKEN_KEY that is set but unusable before any work starts; unset is allowed."""
    if env.get(KEY_ENV, "").strip():
        token_cipher(env)


def _is_fernet_key(key: str) -> bool:
    try:
        Fernet(key.encode())
    except ValueError:
        return False
    return True
