"""The database itself enforces the global/per-user rules, on SQLite and PostgreSQL."""
import pytest
from sqlalchemy.exc import IntegrityError

from app.models import Integration, IntegrationCredential


def add(db, **values):
    db.session.add(Integration(**values))
    db.session.flush()


@pytest.mark.parametrize("values", [
    {"provider": "jira", "is_global": True, "user": True},
    {"provider": "google_calendar", "is_global": False, "user": False},
], ids=["global-with-user", "per-user-without-user"])
def test_check_constraint_refuses_inconsistent_rows(db, user, values):
    with pytest.raises(IntegrityError):
        add(db, provider=values["provider"], is_global=values["is_global"],
            user_id=user.id if values["user"] else None)
    db.session.rollback()


def test_one_global_integration_per_provider(db):
    add(db, provider="jira", is_global=True, user_id=None)
    with pytest.raises(IntegrityError):
        add(db, provider="jira", is_global=True, user_id=None)
    db.session.rollback()


def test_one_per_user_integration_per_provider_and_user(db, make_user):
    ann, bob = make_user(), make_user()
    add(db, provider="google_calendar", is_global=False, user_id=ann.id)
    add(db, provider="google_calendar", is_global=False, user_id=bob.id)  # another user: fine
    with pytest.raises(IntegrityError):
        add(db, provider="google_calendar", is_global=False, user_id=ann.id)
    db.session.rollback()


def test_raw_insert_violating_the_check_fails(db, user):
    """Not only the ORM: a hand-written INSERT is refused too."""
    from sqlalchemy import text
    with pytest.raises(IntegrityError):
        db.session.execute(text(
            "INSERT INTO integrations (provider, is_global, user_id, status, settings, webhook_token, created_at, updated_at)"
            " VALUES ('slack', :g, :u, 'active', '{}', 'tok', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ), {"g": True, "u": user.id})
    db.session.rollback()


def test_unknown_status_is_refused(db):
    with pytest.raises(IntegrityError):
        add(db, provider="slack", is_global=True, user_id=None, status="connected")
    db.session.rollback()


def test_credentials_are_stored_encrypted(db, user):
    integration = Integration(provider="google_calendar", is_global=False, user_id=user.id)
    integration.credential = IntegrationCredential(kind="oauth2")
    integration.credential.payload = {"access_token": "ya29.very-secret-access", "refresh_token": "1//secret-refresh"}
    db.session.add(integration)
    db.session.commit()
    raw = db.session.execute(db.text("SELECT ciphertext FROM integration_credentials")).scalar_one()
    assert "very-secret" not in raw and "secret-refresh" not in raw
    db.session.expire_all()
    assert db.session.get(Integration, integration.id).credential.payload["refresh_token"] == "1//secret-refresh"


def test_deleting_a_user_removes_their_integrations_and_credentials(db, user):
    integration = Integration(provider="google_calendar", is_global=False, user_id=user.id)
    integration.credential = IntegrationCredential(kind="oauth2")
    integration.credential.payload = {"access_token": "x"}
    db.session.add(integration)
    db.session.commit()
    # Through the database's own ON DELETE CASCADE, not only the ORM's cascade.
    db.session.execute(db.text("DELETE FROM users WHERE id = :id"), {"id": user.id})
    db.session.commit()
    assert db.session.execute(db.text("SELECT count(*) FROM integrations")).scalar_one() == 0
    assert db.session.execute(db.text("SELECT count(*) FROM integration_credentials")).scalar_one() == 0
