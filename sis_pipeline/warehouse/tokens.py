"""OAuth tokens kept between runs, encrypted, so a run reuses a valid token instead of asking again."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from sis_pipeline.token_cipher import TokenCipher
from sis_pipeline.warehouse.schema import oauth_tokens


class StoredTokens:
    """The token cache one integration's OAuth client reads and writes (see providers/auth.py)."""

    def __init__(self, engine: Engine, integration: str, token_url: str, cipher: TokenCipher):
        self.engine, self.integration, self.token_url, self.cipher = engine, integration, token_url, cipher

    def load(self) -> tuple[str, datetime, float] | None:
        """(token, issued at, lifetime in seconds) of a stored token for this token URL, if readable."""
        with self.engine.connect() as conn:
            row = conn.execute(select(oauth_tokens).where(oauth_tokens.c.integration == self.integration)).one_or_none()
        if row is None or row.token_url != self.token_url:
            return None
        token = self.cipher.decrypt(row.encrypted_token)
        if token is None:
            return None
        issued, expires = _utc(row.issued_at), _utc(row.expires_at)
        return token, issued, (expires - issued).total_seconds()

    def save(self, token: str, issued_at: datetime, lifetime: float) -> None:
        values = {
            "integration": self.integration,
            "token_url": self.token_url,
            "encrypted_token": self.cipher.encrypt(token),
            "issued_at": issued_at,
            "expires_at": issued_at + timedelta(seconds=lifetime),
        }
        with self.engine.begin() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            statement = dialect.insert(oauth_tokens).values(values)
            conn.execute(statement.on_conflict_do_update(index_elements=["integration"], set_=values))

    def forget(self) -> None:
        revoke_tokens(self.engine, self.integration)


def revoke_tokens(engine: Engine, integration: str | None = None) -> int:
    """Delete stored tokens (all, or one integration's); the next run asks the SIS for a new one."""
    statement = delete(oauth_tokens)
    if integration is not None:
        statement = statement.where(oauth_tokens.c.integration == integration)
    with engine.begin() as conn:
        return conn.execute(statement).rowcount


def token_status(engine: Engine, now: datetime | None = None) -> list[dict]:
    """Per stored token: integration, issued_at, expires_at, and whether it is still valid. Never the token."""
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        rows = conn.execute(select(oauth_tokens).order_by(oauth_tokens.c.integration)).all()
    return [
        {"integration": row.integration, "issued_at": _utc(row.issued_at).isoformat(),
         "expires_at": _utc(row.expires_at).isoformat(), "valid": _utc(row.expires_at) > now}
        for row in rows
    ]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite hands back naive UTC
