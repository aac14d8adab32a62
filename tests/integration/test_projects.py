"""Clients, projects and tasks through the real pages and database."""
from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import func, select

from app.models import Client, Project, Task
from tests.conftest import post_form


def post(client, url, data=None):
    return post_form(client, url, data, page="/account")


def count(db, model) -> int:
    return db.session.scalar(select(func.count(model.id)))


def make_project(db, name="Website", client_name="Acme", rate="80.00", currency="EUR"):
    customer = Client(name=client_name, currency=currency)
    project = Project(name=name, client=customer, hourly_rate=Decimal(rate))
    db.session.add(project)
    db.session.commit()
    return project


# --- clients ---------------------------------------------------------------------------------------------------

def test_admin_creates_edits_and_archives_a_client(admin_client, db):
    response = post(admin_client, "/clients/new",
                    {"name": "  Acme Ltd ", "email": "billing@acme.example.com", "currency": "eur"})
    assert response.status_code == 302
    acme = db.session.scalars(select(Client)).one()
    assert (acme.name, acme.email, acme.currency) == ("Acme Ltd", "billing@acme.example.com", "EUR")

    response = post(admin_client, f"/clients/{acme.id}/edit", {"name": "Acme Limited", "email": "", "currency": "GBP"})
    assert response.status_code == 302
    db.session.refresh(acme)
    assert (acme.name, acme.email, acme.currency) == ("Acme Limited", None, "GBP")

    assert post(admin_client, f"/clients/{acme.id}/archive").status_code == 302
    db.session.refresh(acme)
    assert acme.archived
    admin_client.get("/clients")  # shows the flash message naming the client
    assert "<td>Acme Limited</td>" not in admin_client.get("/clients").get_data(as_text=True)
    assert "<td>Acme Limited</td>" in admin_client.get("/clients?archived=1").get_data(as_text=True)


def test_duplicate_client_name_is_a_field_error_and_saves_nothing(admin_client, db):
    db.session.add(Client(name="Acme", currency="USD"))
    db.session.commit()
    response = post(admin_client, "/clients/new", {"name": "acme", "currency": "USD"})
    assert response.status_code == 422
    assert "A client with this name already exists." in response.get_data(as_text=True)
    assert count(db, Client) == 1


def test_invalid_client_input_rerenders_with_errors(admin_client, db):
    response = post(admin_client, "/clients/new", {"name": "", "email": "not-an-email", "currency": "EURO"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "This field is required." in html
    assert "Invalid email address." in html
    assert "A three-letter ISO code" in html
    assert count(db, Client) == 0


def test_post_without_csrf_token_is_refused_and_changes_nothing(admin_client, db):
    response = admin_client.post("/clients/new", data={"name": "Acme", "currency": "USD"})
    assert response.status_code == 400
    assert count(db, Client) == 0


# --- projects --------------------------------------------------------------------------------------------------

def test_project_list_shows_client_rate_and_open_tasks(admin_client, db):
    acme = Client(name="Acme", currency="EUR")
    db.session.add(acme)
    db.session.commit()
    response = post(admin_client, "/projects/new", {"name": "Website", "client_id": acme.id, "hourly_rate": "95.5"})
    assert response.status_code == 302
    project = db.session.scalars(select(Project)).one()
    assert project.client_id == acme.id and project.hourly_rate == Decimal("95.50")
    db.session.add_all([Task(project=project, title="a", status="todo"),
                        Task(project=project, title="b", status="in_progress"),
                        Task(project=project, title="c", status="done"),
                        Task(project=project, title="d", status="todo", archived=True)])
    db.session.commit()

    html = admin_client.get("/projects").get_data(as_text=True)
    row = re.search(r"<tr>\s*<td><a href=\"/projects/\d+\">Website</a></td>(.*?)</tr>", html, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells == ["Acme", "95.50 EUR", "2"]


def test_project_edit_and_archive(admin_client, db):
    project = make_project(db)
    response = post(admin_client, f"/projects/{project.id}/edit",
                    {"name": "Web shop", "client_id": 0, "hourly_rate": "0"})
    assert response.status_code == 302
    db.session.refresh(project)
    assert (project.name, project.client_id, project.hourly_rate) == ("Web shop", None, Decimal("0.00"))

    assert post(admin_client, f"/projects/{project.id}/archive").status_code == 302
    db.session.refresh(project)
    assert project.archived
    assert ">Web shop</a>" not in admin_client.get("/projects").get_data(as_text=True)
    assert ">Web shop</a>" in admin_client.get("/projects?archived=1").get_data(as_text=True)


def test_invalid_project_rate_rerenders_with_422(admin_client, db):
    response = post(admin_client, "/projects/new", {"name": "Website", "client_id": 0, "hourly_rate": "-5"})
    assert response.status_code == 422
    assert "Number must be between 0 and 99999999.99." in response.get_data(as_text=True)
    response = post(admin_client, "/projects/new", {"name": "Website", "client_id": 0, "hourly_rate": "lots"})
    assert response.status_code == 422
    response = post(admin_client, "/projects/new", {"name": "Website", "client_id": 0, "hourly_rate": "95.555"})
    assert response.status_code == 422
    assert "At most two decimals." in response.get_data(as_text=True)
    for odd in ("NaN", "sNaN", "Infinity", "1e400"):
        response = post(admin_client, "/projects/new", {"name": "Website", "client_id": 0, "hourly_rate": odd})
        assert response.status_code == 422, odd
    assert count(db, Project) == 0


def test_user_reads_but_cannot_change_clients_or_projects(user_client, db):
    project = make_project(db)
    for page in ("/clients", "/projects", f"/projects/{project.id}"):
        assert user_client.get(page).status_code == 200
    assert "New project" not in user_client.get("/projects").get_data(as_text=True)
    for url in ("/clients/new", f"/clients/{project.client_id}/edit", "/projects/new", f"/projects/{project.id}/edit"):
        assert user_client.get(url).status_code == 403
    assert post(user_client, "/clients/new", {"name": "Other", "currency": "USD"}).status_code == 403
    assert post(user_client, f"/clients/{project.client_id}/archive").status_code == 403
    assert post(user_client, "/projects/new", {"name": "X", "client_id": 0, "hourly_rate": "1"}).status_code == 403
    assert post(user_client, f"/projects/{project.id}/edit",
                {"name": "X", "client_id": 0, "hourly_rate": "1"}).status_code == 403
    assert post(user_client, f"/projects/{project.id}/archive").status_code == 403
    db.session.expire_all()
    assert count(db, Client) == 1 and count(db, Project) == 1
    assert project.name == "Website" and not project.archived and not project.client.archived


def test_anonymous_visitors_are_sent_to_login(client, admin, db):
    project = make_project(db)
    for page in ("/clients", "/projects", f"/projects/{project.id}", "/clients/new"):
        response = client.get(page)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- tasks -----------------------------------------------------------------------------------------------------

def test_user_creates_edits_moves_and_archives_tasks(user_client, user, db):
    project = make_project(db)
    response = post(user_client, f"/projects/{project.id}/tasks/new", {"title": "Draft the home page"})
    assert response.status_code == 302
    task = db.session.scalars(select(Task)).one()
    assert (task.project_id, task.status, task.assignee_id) == (project.id, "todo", None)

    response = post(user_client, f"/projects/{project.id}/tasks/{task.id}/edit", {
        "title": "Build the home page", "status": "in_progress", "assignee_id": user.id,
        "external_key": "WEB-7", "external_url": "https://tracker.example/WEB-7"})
    assert response.status_code == 302
    db.session.refresh(task)
    assert (task.title, task.status, task.assignee_id, task.external_key) == (
        "Build the home page", "in_progress", user.id, "WEB-7")

    assert post(user_client, f"/projects/{project.id}/tasks/{task.id}/status", {"status": "done"}).status_code == 302
    db.session.refresh(task)
    assert task.status == "done"

    assert post(user_client, f"/projects/{project.id}/tasks/{task.id}/archive").status_code == 302
    db.session.refresh(task)
    assert task.archived
    row = "<td>Build the home page</td>"
    assert row not in user_client.get(f"/projects/{project.id}").get_data(as_text=True)
    assert row in user_client.get(f"/projects/{project.id}?archived=1").get_data(as_text=True)


def test_external_key_links_to_its_url_only_for_web_links(user_client, db):
    project = make_project(db)
    db.session.add_all([
        Task(project=project, title="Linked", external_key="PROJ-12",
             external_url="https://jira.example/browse/PROJ-12"),
        Task(project=project, title="Odd scheme", external_key="BAD-1", external_url="javascript:alert(1)"),
    ])
    db.session.commit()
    html = user_client.get(f"/projects/{project.id}").get_data(as_text=True)
    assert re.search(r'<a href="https://jira.example/browse/PROJ-12"[^>]*>PROJ-12</a>', html)
    assert "javascript:" not in html
    assert "<code>BAD-1</code>" in html


def test_invalid_task_input_is_refused(user_client, db):
    project = make_project(db)
    response = post(user_client, f"/projects/{project.id}/tasks/new",
                    {"title": "", "status": "someday", "external_url": "javascript:alert(1)"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "This field is required." in html and "Not a valid choice." in html
    assert "Only http:// and https:// links." in html
    assert count(db, Task) == 0


def test_task_addresses_must_match_their_project(user_client, db):
    first, second = make_project(db), make_project(db, name="App", client_name="Globex")
    task = Task(project=first, title="Only here")
    db.session.add(task)
    db.session.commit()
    assert user_client.get(f"/projects/{second.id}/tasks/{task.id}/edit").status_code == 404
    assert post(user_client, f"/projects/{second.id}/tasks/{task.id}/status", {"status": "done"}).status_code == 404
    assert user_client.get("/projects/9999").status_code == 404
    db.session.refresh(task)
    assert task.status == "todo"
