"""Client secrets and issued tokens never reach logs, reports or the warehouse in plain text."""

import logging
import shutil
import subprocess

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from sis_pipeline.redact import MASK, redact, register_secret


def test_redact_masks_registered_secrets_and_authorization_values():
    register_secret("hunter2-very-secret")
    line = "calling with hunter2-very-secret and Authorization: Bearer abcdefghijklmnop1234"
    cleaned = redact(line)
    assert "hunter2-very-secret" not in cleaned and "abcdefghijklmnop1234" not in cleaned
    assert cleaned.count(MASK) == 2


def test_log_records_are_redacted_at_creation(caplog):
    register_secret("another-secret-value")
    with caplog.at_level(logging.INFO):
        logging.getLogger("sis_pipeline.test").info("secret is %s", "another-secret-value")
    assert "another-secret-value" not in caplog.text and MASK in caplog.text


@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed")
def test_no_secret_or_token_in_logs_report_or_a_warehouse_dump(district, write_config, sync, postgres_url, caplog, monkeypatch):
    issued: list[str] = []
    tokens = district.state.tokens
    original_issue = tokens.issue

    def recording_issue(ttl_seconds):
        token = original_issue(ttl_seconds)
        issued.append(token)
        return token

    monkeypatch.setattr(tokens, "issue", recording_issue)
    monkeypatch.setenv("SIS_TOKEN_KEY", Fernet.generate_key().decode())  # tokens are stored, encrypted
    config = write_config(district)
    with caplog.at_level(logging.DEBUG):
        report = sync(config, postgres_url)
        district.expire_tokens()  # the next run must refresh, and the refreshed token must stay hidden too
        report_again = sync(config, postgres_url)
    assert report["status"] == report_again["status"] == "success"
    assert len(issued) >= 2

    url = make_url(postgres_url)
    dump = subprocess.run(
        ["pg_dump", "-h", url.host, "-p", str(url.port or 5432), "-U", url.username, "--data-only", url.database],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "springfield" in dump and len(dump) > 10_000  # the dump really holds the roster
    assert "oauth_tokens" in dump and "gAAAA" in dump  # and an encrypted (Fernet) token
    haystacks = {"warehouse dump": dump, "logs": caplog.text, "report": repr(report) + repr(report_again)}
    for secret in [district.client_secret, *issued]:
        for where, text in haystacks.items():
            assert secret not in text, f"a secret reached the {where}"
