"""Clients, projects and their tasks.

Who may do what:
- Every signed-in user reads clients, projects and tasks.
- Clients and projects are created, edited and archived by admins only (users
  get 403): they carry the hourly rates and currencies invoices are built from.
- Tasks are created, edited, moved between statuses and archived by any
  signed-in user: they are the team's shared to-do list, and a user must be
  able to add the task they are about to log time on without asking an admin.

Nothing is deleted here: archiving hides a record from the lists and pickers
while keeping the time logged against it (and its invoices) intact.
"""
from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from wtforms import BooleanField, DecimalField, EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from app.currencies import iso_4217
from app.extensions import db
from app.inputs import optional_id
from app.models import Client, Project, Task, User
from app.models.project import BUDGET_KINDS
from app.models.task import TASK_STATUSES
from app.routes.admin import admin_required
from app.routes.invoices import cents
from app.services import rate_service, user_service
from app.services.sync_service import record_change

bp = Blueprint("projects", __name__)

STATUS_CHOICES = [SelectChoice(status, status.replace("_", " ").capitalize()) for status in TASK_STATUSES]
NO_ONE = 0  # select value for "no client" / "unassigned"


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _upper(value):
    return _strip(value).upper() if value else value


def _blank_to_none(value):
    value = _strip(value)
    return value or None


class ClientForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)], filters=[_strip])
    email = EmailField("Billing e-mail", validators=[Optional(), Email(), Length(max=254)], filters=[_blank_to_none])
    currency = StringField("Currency", default="USD", filters=[_upper], validators=[
        DataRequired(), Regexp(r"^[A-Z]{3}$", message="A three-letter ISO code, like EUR."), iso_4217])


class ProjectForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)], filters=[_strip])
    client_id = SelectField("Client", coerce=int, default=NO_ONE)
    hourly_rate = DecimalField("Hourly rate", places=2, default=Decimal("0.00"),
                               # InputRequired, not DataRequired: a zero rate (unbilled work) is legitimate.
                               validators=[InputRequired(message="Enter a rate (0 for unbilled work)."), cents,
                                           NumberRange(min=0, max=Decimal("99999999.99"))])
    billable_by_default = BooleanField("New entries are billable", default=True)
    budget_kind = SelectField("Budget", default="", choices=[
        SelectChoice("", "No budget"), *(SelectChoice(kind, f"In {kind}") for kind in BUDGET_KINDS)])
    budget_amount = DecimalField("Budget amount", places=2, validators=[
        Optional(), cents, NumberRange(min=Decimal("0.01"), max=rate_service.BUDGET_MAX)])

    def validate_budget_kind(self, field):
        # On the kind: the amount's Optional() stops its own chain when it is empty.
        if field.data and self.budget_amount.raw_data in (None, [], [""]):
            raise ValidationError("Give the budget's amount, or choose “No budget”.")


def _http_url(_form, field):
    if field.data and urlsplit(field.data).scheme not in ("http", "https"):
        raise ValidationError("Only http:// and https:// links.")


class TaskForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=500)], filters=[_strip])
    status = SelectField("Status", choices=STATUS_CHOICES, default="todo")
    assignee_id = SelectField("Assignee", coerce=int, default=NO_ONE)
    external_key = StringField("External key", validators=[Optional(), Length(max=100)], filters=[_blank_to_none])
    external_url = StringField("External link", validators=[Optional(), Length(max=1000), _http_url],
                               filters=[_blank_to_none])


class TaskStatusForm(FlaskForm):
    status = SelectField("Status", choices=STATUS_CHOICES)


# --- helpers -------------------------------------------------------------------------------------------------

def get_or_404(model, ident: int):
    return db.session.get(model, ident) or abort(404)


def _show_archived() -> bool:
    return request.args.get("archived") == "1"


def _client_choices(current_id: int | None) -> list[tuple[int, str]]:
    """Active clients, plus the project's current one even when archived."""
    clients = db.session.scalars(select(Client).where((Client.archived.is_(False)) | (Client.id == current_id))
                                 .order_by(func.lower(Client.name))).all()
    return [SelectChoice(NO_ONE, "— no client —")] + [
        SelectChoice(c.id, c.name + (" (archived)" if c.archived else "")) for c in clients]


def _assignee_choices(keep: int | None = None) -> list[tuple[int, str]]:
    """Active users, plus the task's current assignee even if deactivated since."""
    users = user_service.active_users()
    choices = [SelectChoice(NO_ONE, "— unassigned —")] + [SelectChoice(u.id, u.name) for u in users]
    kept = db.session.get(User, keep) if keep else None
    if kept is not None and not kept.is_active:
        choices.append(SelectChoice(kept.id, f"{kept.name} (deactivated)"))
    return choices


def _client_name_taken(name: str, except_id: int | None = None) -> bool:
    query = select(func.count(Client.id)).where(func.lower(Client.name) == name.lower())
    if except_id is not None:
        query = query.where(Client.id != except_id)
    return bool(db.session.scalar(query))


# --- clients -------------------------------------------------------------------------------------------------

@bp.get("/clients")
@login_required
def clients():
    archived = _show_archived()
    project_counts = (select(Project.client_id, func.count(Project.id).label("n"))
                      .where(Project.archived.is_(False)).group_by(Project.client_id).subquery())
    rows = db.session.execute(
        select(Client, func.coalesce(project_counts.c.n, 0))
        .outerjoin(project_counts, project_counts.c.client_id == Client.id)
        .where(Client.archived.is_(archived)).order_by(func.lower(Client.name))
    ).all()
    return render_template("clients/index.html", rows=rows, archived=archived)


def _save_client(form: ClientForm, client: Client) -> bool:
    """Copy the form into `client` and commit; False (with a field error) when the name is taken."""
    if _client_name_taken(form.name.data, client.id):
        form.name.errors.append("A client with this name already exists.")
        return False
    form.populate_obj(client)
    db.session.add(client)
    try:
        db.session.flush()
        record_change(db.session, "client", client, "upsert")  # accounting integrations mirror clients
        db.session.commit()
    except IntegrityError:  # someone took the name between the check and the commit
        db.session.rollback()
        form.name.errors.append("A client with this name already exists.")
        return False
    return True


@bp.route("/clients/new", methods=["GET", "POST"])
@admin_required
def new_client():
    form = ClientForm()
    if form.validate_on_submit() and _save_client(form, Client()):
        flash(f"Created client {form.name.data}.", "success")
        return redirect(url_for("projects.clients"))
    return render_template("clients/form.html", form=form, client=None), 422 if form.errors else 200


@bp.route("/clients/<int:client_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_client(client_id: int):
    client = get_or_404(Client, client_id)
    form = ClientForm(obj=client)
    if form.validate_on_submit() and _save_client(form, client):
        flash(f"Saved client {client.name}.", "success")
        return redirect(url_for("projects.clients"))
    return render_template("clients/form.html", form=form, client=client), 422 if form.errors else 200


@bp.post("/clients/<int:client_id>/archive")
@admin_required
def archive_client(client_id: int):
    """Archive, or restore an archived client."""
    client = get_or_404(Client, client_id)
    client.archived = not client.archived
    record_change(db.session, "client", client, "upsert")
    db.session.commit()
    flash(f"{'Archived' if client.archived else 'Restored'} client {client.name}.", "success")
    return redirect(url_for("projects.clients", archived="1" if not client.archived else None))


# --- projects ------------------------------------------------------------------------------------------------

@bp.get("/projects")
@login_required
def index():
    archived = _show_archived()
    open_tasks = (select(Task.project_id, func.count(Task.id).label("n"))
                  .where(Task.archived.is_(False), Task.status != "done").group_by(Task.project_id).subquery())
    rows = db.session.execute(
        select(Project, func.coalesce(open_tasks.c.n, 0))
        .outerjoin(open_tasks, open_tasks.c.project_id == Project.id)
        .where(Project.archived.is_(archived)).order_by(func.lower(Project.name))
    ).all()
    return render_template("projects/index.html", rows=rows, archived=archived)


def _project_form(project: Project | None) -> ProjectForm:
    form = ProjectForm(obj=project)
    form.client_id.choices = _client_choices(project.client_id if project else None)
    if project is not None and request.method == "GET":
        form.client_id.data = project.client_id or NO_ONE
    if form.budget_kind.data is None:  # no budget (the project's NULL, or a form without the field)
        form.budget_kind.data = ""
    return form


def _save_project(form: ProjectForm, project: Project) -> None:
    project.name = form.name.data
    project.client_id = form.client_id.data or None
    project.hourly_rate = form.hourly_rate.data
    project.billable_by_default = form.billable_by_default.data
    project.budget_kind = form.budget_kind.data or None
    project.budget_amount = form.budget_amount.data if project.budget_kind else None
    db.session.add(project)
    db.session.commit()


@bp.route("/projects/new", methods=["GET", "POST"])
@admin_required
def new_project():
    form = _project_form(None)
    if request.method == "GET" and (client_id := optional_id(request.args.get("client"))) is not None:
        form.client_id.data = client_id
    if form.validate_on_submit():
        project = Project()
        _save_project(form, project)
        flash(f"Created project {project.name}.", "success")
        return redirect(url_for("projects.detail", project_id=project.id))
    return render_template("projects/form.html", form=form, project=None), 422 if form.errors else 200


@bp.route("/projects/<int:project_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_project(project_id: int):
    project = get_or_404(Project, project_id)
    form = _project_form(project)
    if form.validate_on_submit():
        _save_project(form, project)
        flash(f"Saved project {project.name}.", "success")
        return redirect(url_for("projects.detail", project_id=project.id))
    return render_template("projects/form.html", form=form, project=project), 422 if form.errors else 200


@bp.post("/projects/<int:project_id>/archive")
@admin_required
def archive_project(project_id: int):
    """Archive, or restore an archived project."""
    project = get_or_404(Project, project_id)
    project.archived = not project.archived
    db.session.commit()
    flash(f"{'Archived' if project.archived else 'Restored'} project {project.name}.", "success")
    return redirect(url_for("projects.detail", project_id=project.id))


@bp.get("/projects/<int:project_id>")
@login_required
def detail(project_id: int):
    project = get_or_404(Project, project_id)
    archived = _show_archived()
    tasks = db.session.scalars(select(Task).where(Task.project_id == project.id, Task.archived.is_(archived))
                               .order_by(Task.status != "in_progress", Task.status == "done", Task.id)).all()
    # A money budget is money: only admins see it (as they alone see rates).
    budget = rate_service.budget_use(project) if project.budget_kind == "hours" or current_user.is_admin else None
    return render_template("projects/detail.html", project=project, tasks=tasks, archived=archived, budget=budget,
                           quick_task=TaskForm(formdata=None), status_form=TaskStatusForm(formdata=None))


# --- tasks ---------------------------------------------------------------------------------------------------

def _task_or_404(project_id: int, task_id: int) -> Task:
    task = db.session.get(Task, task_id)
    if task is None or task.project_id != project_id:
        abort(404)
    return task


def _task_form(task: Task | None) -> TaskForm:
    form = TaskForm(obj=task)
    form.assignee_id.choices = _assignee_choices(task.assignee_id if task else None)
    if task is not None and request.method == "GET":
        form.assignee_id.data = task.assignee_id or NO_ONE
    return form


def _save_task(form: TaskForm, task: Task) -> None:
    task.title = form.title.data
    task.status = form.status.data
    task.assignee_id = form.assignee_id.data or None
    task.external_key = form.external_key.data
    task.external_url = form.external_url.data
    db.session.add(task)
    db.session.commit()


@bp.route("/projects/<int:project_id>/tasks/new", methods=["GET", "POST"])
@login_required
def new_task(project_id: int):
    project = get_or_404(Project, project_id)
    form = _task_form(None)
    if form.validate_on_submit():
        task = Task(project=project)
        _save_task(form, task)
        flash(f"Added task “{task.title}”.", "success")
        return redirect(url_for("projects.detail", project_id=project.id))
    return render_template("projects/task_form.html", form=form, project=project, task=None), \
        422 if form.errors else 200


@bp.route("/projects/<int:project_id>/tasks/<int:task_id>/edit", methods=["GET", "POST"])
@login_required
def edit_task(project_id: int, task_id: int):
    task = _task_or_404(project_id, task_id)
    form = _task_form(task)
    if form.validate_on_submit():
        _save_task(form, task)
        flash(f"Saved task “{task.title}”.", "success")
        return redirect(url_for("projects.detail", project_id=project_id))
    return render_template("projects/task_form.html", form=form, project=task.project, task=task), \
        422 if form.errors else 200


@bp.post("/projects/<int:project_id>/tasks/<int:task_id>/status")
@login_required
def task_status(project_id: int, task_id: int):
    task = _task_or_404(project_id, task_id)
    form = TaskStatusForm()
    if not form.validate_on_submit():
        abort(422)  # only a hand-made request can send a status outside the select
    task.status = form.status.data
    db.session.commit()
    return redirect(url_for("projects.detail", project_id=project_id))


@bp.post("/projects/<int:project_id>/tasks/<int:task_id>/archive")
@login_required
def archive_task(project_id: int, task_id: int):
    """Archive, or restore an archived task."""
    task = _task_or_404(project_id, task_id)
    task.archived = not task.archived
    db.session.commit()
    flash(f"{'Archived' if task.archived else 'Restored'} task “{task.title}”.", "success")
    return redirect(url_for("projects.detail", project_id=project_id))
