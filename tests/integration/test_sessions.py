"""Server-side sessions (issue 14, "Sessions and sign-in"): each signed-in browser is a
row of user_sessions that ends on its own, by logout, password change, an admin, or age."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app import jobs
from app.models import User, UserSession
from app.models.base import utcnow
from app.services import session_service
from tests.conftest import PASSWORD, login, post_form


def _signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def _copy_session(client, app):
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def _session_key(client) -> str:
    with client.session_transaction() as session:
        return session["_user_id"]


def _rows(db, user) -> list[UserSession]:
    db.session.expire_all()
    return list(db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)
                                   .order_by(UserSession.id)))


def _age(db, client, **delta) -> None:
    """Make `client`'s session as old as `delta`, as if it had been signed in back then."""
    session_id = int(_session_key(client).split(":")[1])
    then = utcnow() - timedelta(**delta)
    db.session.execute(update(UserSession).where(UserSession.id == session_id)
                       .values(created_at=then, last_seen_at=then))
    db.session.commit()


def test_logout_ends_that_session_and_its_copies_while_another_device_stays_signed_in(app, db, user):
    laptop, phone = login(app.test_client(), user), login(app.test_client(), user)
    thief = _copy_session(laptop, app)
    assert _signed_in(thief) and len(_rows(db, user)) == 2

    post_form(laptop, "/logout", page="/account")
    assert not _signed_in(laptop)
    assert not _signed_in(thief), "a copy of the logged-out cookie is dead"
    assert _signed_in(phone), "the other device's session goes on"
    assert len(_rows(db, user)) == 1


def test_the_cookie_names_user_session_and_token_and_only_the_tokens_digest_is_stored(app, db, user):
    client = login(app.test_client(), user)
    user_id, session_id, token = _session_key(client).split(":")
    row = db.session.get(UserSession, int(session_id))
    assert int(user_id) == user.id == row.user_id
    assert row.token_digest == hashlib.sha256(token.encode()).hexdigest() and token not in row.token_digest

    wrong_token = f"{user_id}:{session_id}:{token[:-1]}{'A' if token[-1] != 'A' else 'B'}"
    other_user = f"{user_id}0:{session_id}:{token}"
    for forged in (wrong_token, other_user, f"{user_id}:{session_id}", f"{user_id}:{session_id}:{token}:x"):
        with client.session_transaction() as session:
            session["_user_id"] = forged
        assert not _signed_in(client), forged


def test_a_password_change_keeps_the_current_session_and_ends_every_other(app, db, user):
    laptop, phone = login(app.test_client(), user), login(app.test_client(), user)
    laptop_key = _session_key(laptop)
    response = post_form(laptop, "/account/password", {"current": PASSWORD, "password": "a new secret",
                                                       "confirm": "a new secret"}, page="/account")
    assert response.status_code == 302
    assert _signed_in(laptop) and _session_key(laptop) == laptop_key
    assert not _signed_in(phone)
    assert [row.id for row in _rows(db, user)] == [int(laptop_key.split(":")[1])]


def test_an_admin_reset_and_sign_out_everywhere_end_every_session_of_the_user(app, db, admin, user):
    admin_client = login(app.test_client(), admin)
    devices = [login(app.test_client(), user) for _ in range(2)]
    post_form(admin_client, f"/admin/users/{user.id}/password",
              {"password": "brand new secret", "confirm": "brand new secret"}, page="/admin/users")
    assert not any(_signed_in(device) for device in devices) and _rows(db, user) == []

    devices = [login(app.test_client(), user, "brand new secret") for _ in range(2)]
    assert post_form(admin_client, f"/admin/users/{user.id}/sessions/end", page="/admin/users").status_code == 302
    assert not any(_signed_in(device) for device in devices) and _rows(db, user) == []
    assert _signed_in(admin_client) and len(_rows(db, admin)) == 1


def test_an_admin_resetting_their_own_password_stays_signed_in_here_only(app, db, admin):
    here, elsewhere = login(app.test_client(), admin), login(app.test_client(), admin)
    response = post_form(here, f"/admin/users/{admin.id}/password",
                         {"password": "brand new secret", "confirm": "brand new secret"}, page="/admin/users")
    assert response.status_code == 302
    assert _signed_in(here) and not _signed_in(elsewhere) and len(_rows(db, admin)) == 1


def test_a_deactivated_user_loses_their_sessions_and_gets_no_new_one(app, db, admin, user):
    device = login(app.test_client(), user)
    admin_client = login(app.test_client(), admin)
    post_form(admin_client, f"/admin/users/{user.id}/deactivate", page="/admin/users")
    assert _rows(db, user) == [] and not _signed_in(device)

    refused = post_form(app.test_client(), "/login", {"email": user.email, "password": PASSWORD}, page="/login")
    assert refused.status_code == 422 and _rows(db, user) == []
    db.session.expire_all()
    with pytest.raises(ValueError, match="deactivated"):
        session_service.start(db.session.get(User, user.id))
    assert _rows(db, user) == []


def test_a_session_ends_after_thirty_days_however_busy(app, db, user):
    old, young = login(app.test_client(), user), login(app.test_client(), user)
    _age(db, old, days=30, minutes=1)
    _age(db, young, days=29, hours=23)
    assert not _signed_in(old)
    assert _signed_in(young)


def test_expired_sessions_are_purged_on_sign_in_and_by_the_daily_job(app, db, admin, user):
    first, second = login(app.test_client(), user), login(app.test_client(), user)
    _age(db, first, days=31)
    login(app.test_client(), admin)  # anyone's sign-in purges every expired session
    assert len(_rows(db, user)) == 1

    _age(db, second, days=31)
    assert jobs.purge_expired_sessions.call_local() == 1
    assert _rows(db, user) == []


def test_the_daily_purge_is_scheduled_once_a_day():
    start = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    minutes = [start + timedelta(minutes=m) for m in range(2 * 24 * 60)]
    due = [moment for moment in minutes
           if any(task.name == jobs.purge_expired_sessions.name for task in jobs.huey.read_periodic(moment))]
    assert len(due) == 2 and due[1] - due[0] == timedelta(days=1)


def test_last_seen_is_noted_at_most_once_a_minute(app, db, user):
    client = login(app.test_client(), user)
    session_id = int(_session_key(client).split(":")[1])

    def seen_at():
        db.session.expire_all()
        return db.session.get(UserSession, session_id).last_seen_at

    recent, long_ago = utcnow() - timedelta(seconds=30), utcnow() - timedelta(minutes=5)
    for moment in (recent, long_ago):
        db.session.execute(update(UserSession).where(UserSession.id == session_id).values(last_seen_at=moment))
        db.session.commit()
        assert _signed_in(client)
        if moment is recent:
            assert seen_at() == recent, "seen less than a minute ago: not written again"
        else:
            assert seen_at() > utcnow() - timedelta(minutes=1)


def test_the_user_agent_is_kept_truncated(app, db, user):
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = "Browser/1.0 " + "x" * 500
    login(client, user)
    (row,) = _rows(db, user)
    assert row.user_agent.startswith("Browser/1.0 ") and len(row.user_agent) == 200


def test_deleting_a_user_deletes_their_sessions(app, db, admin, make_user):
    newcomer = make_user("new@example.com")
    login(app.test_client(), newcomer)
    admin_client = login(app.test_client(), admin)
    assert post_form(admin_client, f"/admin/users/{newcomer.id}/delete", page="/admin/users").status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(func.count(UserSession.id)).where(UserSession.user_id != admin.id)) == 0
