"""The suite hashes with a cheap method (tests/conftest.py); a deployment must not. (That an unknown
e-mail costs as long as a wrong password, whatever the method, is test_hardening_signin's ratio test.)"""
from app import create_app
from app.models import User


def test_an_app_hashes_passwords_with_scrypt_unless_told_otherwise(tmp_path, monkeypatch):
    monkeypatch.setenv("TIMEHUB_SECRET_KEY", "k")
    monkeypatch.setenv("TIMEHUB_PASSWORD_HASH_METHOD", "plain")  # not read from the environment
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}", "INSTANCE_PATH": str(tmp_path)})
    with app.app_context():
        user = User(email="a@example.com", name="A")
        user.set_password("a long enough password")
    assert user.password_hash.startswith("scrypt:")
    assert user.check_password("a long enough password") and not user.check_password("another password")

