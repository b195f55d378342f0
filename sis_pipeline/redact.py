"""Keep secrets out of logs and messages: every log record passes through `redact` when it is created."""

import logging
import re
import threading
from urllib.parse import urlsplit, urlunsplit

_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_AUTH_HEADER = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?:(?:bearer|basic)\s+)?[^'\"\s,}]+")
# user:password@ inside any URL (configuration refuses them; a message from a library might still carry one)
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"]+@")
MASK = "***"


def register_secret(value: str | None) -> None:
    """Remember a secret value (client secret, issued token) so it is masked wherever it shows up."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)
    install_log_redaction()


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{MASK}", text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)


def without_credentials(url: str) -> str:
    """The URL fit for a message: any `user:password@` part left out."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def install_log_redaction() -> None:
    """Wrap the log record factory once, so every logger and handler sees redacted messages."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    original_factory = logging.getLogRecordFactory()

    def redacting_factory(*args, **kwargs):
        record = original_factory(*args, **kwargs)
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, ()
        return record

    logging.setLogRecordFactory(redacting_factory)
