"""Encryption at rest, below the models: the only module that sees ciphertext.

Keys come from TIMEHUB_ENCRYPTION_KEYS (comma-separated Fernet keys, newest
first). When none is configured, one is generated into the instance folder
(mode 0600) with a warning, so the embedded default works out of the box.
"""
from __future__ import annotations

import json
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

from app.config import read_or_create_secret_file


class SecretsError(RuntimeError):
    """Raised when stored ciphertext cannot be decrypted with any configured key."""


def load_keyring(configured: str, instance_path: str) -> MultiFernet:
    keys = [k.strip() for k in configured.split(",") if k.strip()]
    if not keys:
        keys = [read_or_create_secret_file(
            Path(instance_path) / "encryption_key",
            lambda: Fernet.generate_key().decode(),
            "TIMEHUB_ENCRYPTION_KEYS",
        )]
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError as exc:  # never echo the key itself
        raise SecretsError("TIMEHUB_ENCRYPTION_KEYS holds a value that is not a Fernet key") from exc


def keyring() -> MultiFernet:
    return current_app.extensions["timehub.keyring"]


def encrypt(plain: str) -> str:
    return keyring().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return keyring().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretsError("stored secret cannot be decrypted with the configured keys") from exc


def encrypt_json(value: dict) -> str:
    return encrypt(json.dumps(value, separators=(",", ":")))


def decrypt_json(token: str) -> dict:
    return json.loads(decrypt(token))


def rotate(token: str) -> str:
    """Re-encrypt `token` under the current (first) key."""
    try:
        return keyring().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretsError("stored secret cannot be decrypted with the configured keys") from exc
