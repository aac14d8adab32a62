"""Encryption at rest, key rotation and the `timehub` CLI."""
import logging
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from app.models import ProviderApp, User
from app.services.integration_service import IntegrationService
from app.encryption import SecretsError, load_keyring


def use_keys(app, keys: str):
    app.extensions["timehub.keyring"] = load_keyring(keys, app.config["INSTANCE_PATH"])


def test_rotate_reencrypts_under_the_new_key(app, db, admin):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    use_keys(app, old)
    IntegrationService().save_app_credentials(admin, "slack", {"client_id": "c", "client_secret": "old-secret",
                                                                "signing_secret": "sign"})
    use_keys(app, f"{new},{old}")
    result = app.test_cli_runner().invoke(args=["secrets", "rotate"])
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 1 stored secret" in result.output
    use_keys(app, new)  # the old key is gone now
    db.session.expire_all()
    assert db.session.scalars(select(ProviderApp)).one().payload["client_secret"] == "old-secret"


def test_unknown_key_cannot_decrypt_and_says_so_without_the_secret(app, db, admin):
    IntegrationService().save_app_credentials(admin, "slack", {"client_id": "c", "client_secret": "hidden-value",
                                                                "signing_secret": "sign"})
    use_keys(app, Fernet.generate_key().decode())
    db.session.expire_all()
    with pytest.raises(SecretsError) as excinfo:
        _ = db.session.scalars(select(ProviderApp)).one().payload
    assert "hidden-value" not in str(excinfo.value)


def test_key_is_generated_into_the_instance_folder_with_mode_0600(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        load_keyring("", str(tmp_path))
    key_file = tmp_path / "encryption_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert "TIMEHUB_ENCRYPTION_KEYS" in caplog.text
    assert key_file.read_text().strip() not in caplog.text
    # A second start reads the same key instead of making a new one.
    load_keyring("", str(tmp_path))
    assert len(list(tmp_path.iterdir())) == 1


def test_a_new_instance_folder_is_private(tmp_path, monkeypatch):
    from app.config import instance_path
    monkeypatch.setenv("TIMEHUB_INSTANCE", str(tmp_path / "deep" / "instance"))
    created = instance_path()
    assert created.stat().st_mode & 0o777 == 0o700
    # An existing folder keeps the mode its owner chose.
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o750)
    monkeypatch.setenv("TIMEHUB_INSTANCE", str(shared))
    assert instance_path().stat().st_mode & 0o777 == 0o750


def test_a_malformed_key_is_reported_without_echoing_it(tmp_path):
    with pytest.raises(SecretsError) as excinfo:
        load_keyring("not-a-fernet-key-at-all", str(tmp_path))
    assert "not-a-fernet-key" not in str(excinfo.value)


def test_cli_creates_users(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "--email", "Boss@Example.com", "--password", "longenough",
                                 "--admin"])
    assert result.exit_code == 0, result.output
    boss = db.session.scalars(select(User)).one()
    assert boss.email == "boss@example.com" and boss.is_admin and boss.check_password("longenough")
    result = runner.invoke(args=["users", "create", "--email", "boss@example.com", "--password", "longenough"])
    assert result.exit_code != 0 and "already exists" in result.output
    result = runner.invoke(args=["users", "create", "--email", "x@example.com", "--password", "short"])
    assert result.exit_code != 0 and "at least 8" in result.output


def test_first_visit_without_users_offers_the_one_time_admin_setup(client, db):
    response = client.get("/integrations")
    assert response.status_code == 302 and response.headers["Location"].endswith("/setup")
    from tests.conftest import csrf_token
    token = csrf_token(client, "/setup")
    response = client.post("/setup", data={"csrf_token": token, "name": "First", "email": "first@example.com",
                                           "password": "longenough", "confirm": "longenough", "timezone": "UTC"})
    assert response.status_code == 302
    assert db.session.scalars(select(User)).one().is_admin
    assert client.get("/setup").status_code == 404  # gone for good


def test_console_script_is_installed():
    import shutil
    import sys
    script = Path(sys.executable).parent / "timehub"
    assert script.exists() or shutil.which("timehub")
