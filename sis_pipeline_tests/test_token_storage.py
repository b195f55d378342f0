"""OAuth tokens kept between runs in the warehouse, encrypted with Fernet; rotation; status and revoke."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import select

from sis_pipeline.token_cipher import TokenCipher
from sis_pipeline.warehouse import create_warehouse_engine
from sis_pipeline.warehouse.schema import oauth_tokens

CLI = str(Path(sys.executable).with_name("sis-pipeline"))


def stored(url: str):
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(oauth_tokens)).all()
    engine.dispose()
    return rows


def test_a_stored_token_is_encrypted_and_reused_by_the_next_run(district, write_config, sync, warehouse_url, monkeypatch):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("SIS_TOKEN_KEY", key)
    config = write_config(district)
    issued_before = district.stats()["tokens_issued"]
    assert sync(config, warehouse_url)["status"] == "success"
    assert sync(config, warehouse_url)["status"] == "success"
    assert district.stats()["tokens_issued"] - issued_before == 1  # the second run reused the stored token

    (row,) = stored(warehouse_url)
    token = TokenCipher([key]).decrypt(row.encrypted_token)
    assert token and token not in row.encrypted_token
    assert row.integration == "springfield" and row.expires_at > row.issued_at


def test_keys_rotate_and_an_unreadable_token_is_replaced(district, write_config, sync, sqlite_url, monkeypatch):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    config = write_config(district)
    monkeypatch.setenv("SIS_TOKEN_KEY", old)
    sync(config, sqlite_url)
    issued = district.stats()["tokens_issued"]

    monkeypatch.setenv("SIS_TOKEN_KEY", f"{new},{old}")  # rotation: new key first, old still readable
    sync(config, sqlite_url)
    assert district.stats()["tokens_issued"] == issued

    monkeypatch.setenv("SIS_TOKEN_KEY", new)  # the old key retired: the stored token cannot be read
    sync(config, sqlite_url)
    assert district.stats()["tokens_issued"] == issued + 1
    (row,) = stored(sqlite_url)
    assert TokenCipher([new]).decrypt(row.encrypted_token) is not None


def test_without_a_key_tokens_stay_in_memory_and_the_run_says_so(district, write_config, sync, sqlite_url, monkeypatch, caplog):
    import sis_pipeline.token_cipher as cipher_module

    monkeypatch.delenv("SIS_TOKEN_KEY", raising=False)
    monkeypatch.setattr(cipher_module, "_warned", False)
    with caplog.at_level(logging.WARNING):
        sync(write_config(district), sqlite_url)
        sync(write_config(district), sqlite_url)
    assert caplog.text.count("kept in memory only") == 1
    assert stored(sqlite_url) == []


def test_tokens_status_and_revoke_commands(district, write_config, sync, sqlite_url, monkeypatch, tmp_path):
    monkeypatch.setenv("SIS_TOKEN_KEY", Fernet.generate_key().decode())
    sync(write_config(district), sqlite_url)
    env = {**os.environ, "SIS_WAREHOUSE_URL": sqlite_url}
    status = subprocess.run([CLI, "tokens", "status", "--json"], env=env, capture_output=True, text=True, check=True)
    (row,) = json.loads(status.stdout)["tokens"]
    assert row["integration"] == "springfield" and row["valid"] is True
    assert "encrypted" not in status.stdout and len(status.stdout) < 400

    revoked = subprocess.run([CLI, "tokens", "revoke", "--integration", "springfield"], env=env, capture_output=True, text=True, check=True)
    assert "revoked 1" in revoked.stdout and stored(sqlite_url) == []
