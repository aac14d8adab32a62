"""User management under /admin/users, through the real pages and database."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from app.models import ApiToken, Integration, IntegrationCredential, TimeEntry, User
from tests.conftest import PASSWORD, post_form

NEW_USER = {"name": "Nora New", "email": "Nora@Example.com", "password": "a long secret", "confirm": "a long secret",
            "role": "user", "timezone": "Europe/Paris"}


def post(client, url, data=None):
    return post_form(client, url, data, page="/account")


def user_count(db) -> int:
    return db.session.scalar(select(func.count(User.id)))


def test_admin_creates_a_user(admin_client, db):
    response = post(admin_client, "/admin/users/new", NEW_USER)
    assert response.status_code == 302
    nora = db.session.scalars(select(User).where(User.email == "nora@example.com")).one()
    assert (nora.name, nora.role, nora.timezone) == ("Nora New", "user", "Europe/Paris")
    assert "nora@example.com" in admin_client.get("/admin/users").get_data(as_text=True)
    assert nora.check_password("a long secret")


def test_invalid_new_user_rerenders_with_errors_and_saves_nothing(admin_client, admin, db):
    before = user_count(db)
    response = post(admin_client, "/admin/users/new", {**NEW_USER, "password": "short", "confirm": "other",
                                                       "timezone": "Mars/Olympus"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Field must be at least 8 characters long." in html
    assert "Passwords differ." in html
    assert "Not a valid choice." in html
    response = post(admin_client, "/admin/users/new", {**NEW_USER, "email": admin.email.upper()})
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)
    assert user_count(db) == before


def test_admin_edits_name_role_and_time_zone(admin_client, make_user, db):
    ulla = make_user("ulla@example.com")
    response = post(admin_client, f"/admin/users/{ulla.id}/edit",
                    {"name": "Ulla Updated", "role": "admin", "timezone": "Asia/Tokyo"})
    assert response.status_code == 302
    db.session.refresh(ulla)
    assert (ulla.name, ulla.role, ulla.timezone) == ("Ulla Updated", "admin", "Asia/Tokyo")


def test_the_last_admin_cannot_be_demoted(admin_client, admin, make_user, db):
    response = post(admin_client, f"/admin/users/{admin.id}/edit", {"name": admin.name, "role": "user",
                                                                    "timezone": "UTC"})
    assert response.status_code == 422
    assert "This is the only admin account" in response.get_data(as_text=True)
    db.session.refresh(admin)
    assert admin.is_admin

    second = make_user("second@example.com", admin=True)
    response = post(admin_client, f"/admin/users/{second.id}/edit", {"name": "Second", "role": "user",
                                                                     "timezone": "UTC"})
    assert response.status_code == 302
    db.session.refresh(second)
    assert second.role == "user"


def test_admin_resets_a_password(admin_client, make_user, db):
    ulla = make_user("ulla@example.com")
    response = post(admin_client, f"/admin/users/{ulla.id}/password",
                    {"password": "brand new secret", "confirm": "brand new secret"})
    assert response.status_code == 302
    db.session.refresh(ulla)
    assert ulla.check_password("brand new secret") and not ulla.check_password(PASSWORD)

    response = post(admin_client, f"/admin/users/{ulla.id}/password", {"password": "tiny", "confirm": "tiny"})
    assert response.status_code == 422
    db.session.refresh(ulla)
    assert ulla.check_password("brand new secret")


def test_deleting_a_user_without_history_removes_their_integrations_credentials_and_tokens(
        admin_client, make_user, db):
    """On SQLite and PostgreSQL alike: the foreign keys cascade from the user row."""
    ulla = make_user("ulla@example.com")
    calendar = Integration(provider="google_calendar", is_global=False, user=ulla, status="active")
    calendar.credential = IntegrationCredential(kind="oauth2")
    calendar.credential.payload = {"access_token": "at-secret", "refresh_token": "rt-secret"}
    token, _plain = ApiToken.issue(ulla, "laptop")
    db.session.add_all([calendar, token])
    db.session.commit()
    integration_id, credential_id = calendar.id, calendar.credential.id

    page = admin_client.get(f"/admin/users/{ulla.id}/delete").get_data(as_text=True)
    assert "google_calendar" in page and "has no time entries" in page
    response = post(admin_client, f"/admin/users/{ulla.id}/delete")
    assert response.status_code == 302

    db.session.expunge_all()
    assert db.session.get(User, ulla.id) is None
    assert db.session.get(Integration, integration_id) is None
    assert db.session.get(IntegrationCredential, credential_id) is None
    assert db.session.scalar(select(func.count(IntegrationCredential.id))) == 0
    assert db.session.scalar(select(func.count(ApiToken.id))) == 0


def _with_history(db, make_user, email="ulla@example.com"):
    person = make_user(email, name="Ulla")
    db.session.add(TimeEntry(user=person, started_at=datetime(2026, 10, 1, 9), ended_at=datetime(2026, 10, 1, 10)))
    db.session.commit()
    return person


def test_a_user_with_time_entries_is_not_deleted_but_can_be_deactivated(admin_client, make_user, db):
    """Issue 15: deleting a user deleted their time entries."""
    ulla = _with_history(db, make_user)
    page = admin_client.get(f"/admin/users/{ulla.id}/delete").get_data(as_text=True)
    assert "has 1 time entry: deactivate the account instead" in page
    assert f'action="/admin/users/{ulla.id}/deactivate"' in page
    assert f'action="/admin/users/{ulla.id}/delete"' not in page
    response = post(admin_client, f"/admin/users/{ulla.id}/delete")
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(User, ulla.id) is not None
    assert db.session.scalar(select(func.count(TimeEntry.id))) == 1


def test_a_deactivated_user_cannot_sign_in_and_keeps_their_history(app, admin_client, make_user, db):
    ulla = _with_history(db, make_user)
    token, plain = ApiToken.issue(ulla, "laptop")
    db.session.add(token)
    db.session.commit()
    signed_in = app.test_client()
    post_form(signed_in, "/login", {"email": ulla.email, "password": PASSWORD}, page="/login")
    assert signed_in.get("/").status_code == 200

    response = post(admin_client, f"/admin/users/{ulla.id}/deactivate")
    assert response.status_code == 302
    db.session.expire_all()
    assert not ulla.is_active and db.session.scalar(select(func.count(TimeEntry.id))) == 1
    assert "deactivated" in admin_client.get("/admin/users").get_data(as_text=True)

    assert signed_in.get("/").headers["Location"].startswith("/login")  # the open session ended
    refused = post_form(app.test_client(), "/login", {"email": ulla.email, "password": PASSWORD}, page="/login")
    assert refused.status_code == 422 and "This account is deactivated" in refused.get_data(as_text=True)
    api = app.test_client().get("/api/v1/integrations", headers={"Authorization": f"Bearer {plain}"})
    assert api.status_code == 401

    # Their time still shows for admins, but they are no longer offered in the pickers.
    assert "Ulla" in admin_client.get("/?user=all&until=2026-10-01").get_data(as_text=True)
    assert f'value="{ulla.id}"' not in admin_client.get("/").get_data(as_text=True)
    assert f'value="{ulla.id}"' not in admin_client.get("/calendar").get_data(as_text=True)

    assert post(admin_client, f"/admin/users/{ulla.id}/reactivate").status_code == 302
    back = post_form(app.test_client(), "/login", {"email": ulla.email, "password": PASSWORD}, page="/login")
    assert back.status_code == 302


def test_a_deactivated_assignee_leaves_the_picker_but_stays_on_their_tasks(admin_client, make_user, db):
    from app.models import Project, Task
    ulla, kim = _with_history(db, make_user), make_user("kim@example.com", name="Kim")
    project = Project(name="Website")
    db.session.add(project)
    db.session.flush()
    task = Task(project_id=project.id, title="Home page", assignee_id=ulla.id)
    db.session.add(task)
    db.session.commit()
    post(admin_client, f"/admin/users/{ulla.id}/deactivate")
    new_task = admin_client.get(f"/projects/{project.id}/tasks/new").get_data(as_text=True)
    assert f'value="{kim.id}"' in new_task and f'value="{ulla.id}"' not in new_task
    edit = admin_client.get(f"/projects/{project.id}/tasks/{task.id}/edit").get_data(as_text=True)
    assert "Ulla (deactivated)" in edit


def test_an_admin_cannot_deactivate_themself(admin_client, admin, db):
    response = post(admin_client, f"/admin/users/{admin.id}/deactivate")
    assert response.status_code == 302
    assert "You cannot deactivate your own account." in admin_client.get("/admin/users").get_data(as_text=True)
    db.session.expire_all()
    assert admin.is_active


def test_an_admin_cannot_delete_themself_or_the_last_admin(admin_client, admin, db):
    page = admin_client.get(f"/admin/users/{admin.id}/delete").get_data(as_text=True)
    assert "You cannot delete your own account." in page
    response = post(admin_client, f"/admin/users/{admin.id}/delete")
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(User, admin.id) is not None


def test_delete_without_csrf_token_is_refused(admin_client, make_user, db):
    ulla = make_user("ulla@example.com")
    response = admin_client.post(f"/admin/users/{ulla.id}/delete")
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(User, ulla.id) is not None


def test_users_get_403_on_every_admin_users_route(user_client, user, admin, db):
    for url in ("/admin/users", "/admin/users/new", f"/admin/users/{admin.id}/edit",
                f"/admin/users/{admin.id}/delete"):
        assert user_client.get(url).status_code == 403, url
    assert post(user_client, "/admin/users/new", NEW_USER).status_code == 403
    assert post(user_client, f"/admin/users/{user.id}/edit",
                {"name": "Me", "role": "admin", "timezone": "UTC"}).status_code == 403
    assert post(user_client, f"/admin/users/{admin.id}/password",
                {"password": "taken over!", "confirm": "taken over!"}).status_code == 403
    assert post(user_client, f"/admin/users/{admin.id}/delete").status_code == 403
    for action in ("deactivate", "reactivate"):
        assert post(user_client, f"/admin/users/{admin.id}/{action}").status_code == 403
    db.session.expire_all()
    assert user_count(db) == 2 and not user.is_admin and admin.check_password(PASSWORD)


def test_anonymous_visitors_are_sent_to_login(client, admin):
    response = client.get("/admin/users")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_unknown_user_is_404(admin_client):
    assert admin_client.get("/admin/users/9999/edit").status_code == 404
