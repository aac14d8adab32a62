"""A connection's sync settings page, the same for every provider and filled from it:
the sync interval, "only sync items updated since", the allow-list (projects,
repositories, boards), the connector's yes/no toggles and its mapping tables
(Jira: statuses and users).

What can be chosen is read live from the provider. When it cannot be reached
the page still shows what is saved, and saving changes only what can be checked
without it: the allow-list can then only be narrowed to saved ids, and the
mapping tables are kept as they are.

Integrations are looked up only through IntegrationService (global: admins
only; per-user: the owner only), as on the integration's own page.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app import timefmt, tuning
from app.extensions import db
from app.integrations import registry
from app.integrations.base import Connector
from app.integrations.capabilities import (
    ALLOW_LIST_SETTING, BACKFILL_SETTING, AllowList, MappingTables, Notifies, Pulls, SingleChoices,
)
from app.integrations.exchange import AllowListOption, MappingTable, SingleChoice
from app.integrations.http import INTERACTIVE_RETRY, ProviderError
from app.integrations.spec import ProviderSpec
from app.models import Integration, User
from app.models.task import TASK_STATUS_LABELS, TASK_STATUSES
from app.routes import notify_settings
from app.services import sync_service
from app.services.connections import connector_for
from app.routes.integration_access import managed_integration
from app.services.integration_service import IntegrationError, IntegrationService
from app.services.token_service import TokenError

bp = Blueprint("integration_settings", __name__)

INTERVAL_SETTING = "sync_interval_minutes"
# Form field names; mapping rows are "map:<setting>:<remote id>", toggles "toggle:<setting>".
ALLOW_MODE_FIELD, ALLOW_LIST_FIELD = "allow_mode", "allow_list"


def mapping_field(table: MappingTable, remote_id: str) -> str:
    return f"map:{table.setting}:{remote_id}"


def toggle_field(setting: str) -> str:
    return f"toggle:{setting}"


def choice_field(setting: str) -> str:
    return f"choice:{setting}"


def after_connecting(integration: Integration) -> str:
    """Where a fresh connection goes next: its settings page when it imports nothing until
    something is picked (Jira's projects), else the integrations page."""
    connector_class = registry.get_connector(integration.provider)
    if issubclass(connector_class, AllowList) and not connector_class.allow_all_until_chosen \
            and ALLOW_LIST_SETTING not in (integration.settings or {}):
        flash(f"Pick the {connector_class.allow_list_label.lower()} to sync: nothing is imported before.", "info")
        return url_for("integration_settings.edit", integration_id=integration.id)
    return url_for("integrations.index")


# -- what the provider offers ----------------------------------------------------------------


@dataclass
class Offer:
    """What can be chosen, as the provider listed it. `error`: it could not be asked, and
    `options` then holds only the saved allow-list ids."""

    options: list[AllowListOption] = field(default_factory=list)
    tables: list[MappingTable] = field(default_factory=list)
    choices: list[SingleChoice] = field(default_factory=list)
    error: str | None = None

    @property
    def option_ids(self) -> set[str]:
        return {option.external_id for option in self.options}


def _has_allow_list(connector_class: type[Connector]) -> bool:
    return issubclass(connector_class, AllowList)


def _has_mappings(connector_class: type[Connector]) -> bool:
    return issubclass(connector_class, MappingTables)


def _has_choices(connector_class: type[Connector]) -> bool:
    return issubclass(connector_class, SingleChoices)


def _asks_provider(connector_class: type[Connector]) -> bool:
    return _has_allow_list(connector_class) or _has_mappings(connector_class) or _has_choices(connector_class)


def _offer(integration: Integration, spec: ProviderSpec, connector_class: type[Connector]) -> Offer:
    saved = [str(value) for value in (integration.settings or {}).get(ALLOW_LIST_SETTING) or []]
    if not _asks_provider(connector_class):
        return Offer()
    if integration.credential is None:
        return _offline(integration, connector_class, saved,
                        f"{spec.name} is not connected: connect it to choose from what it holds.")
    try:
        connector = connector_for(integration, retry=INTERACTIVE_RETRY)  # someone is waiting on the page
    except TokenError as exc:
        return _offline(integration, connector_class, saved, exc.message)
    try:
        options = connector.allow_list_options() if _has_allow_list(connector_class) else []
        tables = connector.mapping_tables() if _has_mappings(connector_class) else []
        choices = connector.single_choices() if _has_choices(connector_class) else []
    except (ProviderError, TokenError) as exc:
        return _offline(integration, connector_class, saved, f"Could not read the choices from {spec.name}: {exc.message}")
    finally:
        connector.close()
    listed = {option.external_id for option in options}
    # Saved ids the provider no longer lists stay visible, so saving does not drop them unseen.
    gone = [AllowListOption(value, value, f"no longer listed by {spec.name}") for value in saved if value not in listed]
    return Offer(options + gone, tables, [_with_saved(choice, integration, f"no longer listed by {spec.name}")
                                          for choice in choices])


def _with_saved(choice: SingleChoice, integration: Integration, detail: str) -> SingleChoice:
    """The choice with its saved value among the options, even when the provider no longer lists it."""
    saved = (integration.settings or {}).get(choice.setting)
    if not saved or any(option.external_id == str(saved) for option in choice.options):
        return choice
    return replace(choice, options=choice.options + (AllowListOption(str(saved), str(saved), detail),))


def _offline(integration: Integration, connector_class: type[Connector], saved: list[str], error: str) -> Offer:
    """What can be shown without the provider: the saved ids. A single choice can then only
    be kept or reset to its default (its options are not known)."""
    choices = []
    if _has_choices(connector_class):
        choices = [_with_saved(replace(choice, options=()), integration, "saved")
                   for choice in connector_class.choice_fields]
    return Offer([AllowListOption(value, value, "saved") for value in saved], [], choices, error)


def _user_choices() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.name, User.email)))


# -- the form's values: from the saved settings or from what was posted -------------------------


@dataclass
class Values:
    interval: str
    updated_since: str
    allow_all: bool                                   # only for allow_all_until_chosen connectors
    allow_list: set[str]
    toggles: dict[str, bool]
    mappings: dict[str, dict[str, str]]               # setting -> remote id -> chosen value ("" automatic)
    choices: dict[str, str] = field(default_factory=dict)  # setting -> option id ("" the default)
    notify: dict | None = None                        # notify_settings' values, for connectors that Notify


def _saved_values(integration: Integration, connector_class: type[Connector], offer: Offer) -> Values:
    settings = integration.settings or {}
    chosen = settings.get(ALLOW_LIST_SETTING)
    return Values(
        interval=str(settings.get(INTERVAL_SETTING) or tuning.DEFAULT_SYNC_INTERVAL_MINUTES),
        updated_since=settings.get(BACKFILL_SETTING) or "",
        allow_all=chosen is None,
        allow_list={str(value) for value in chosen or []},
        toggles={t.setting: bool(settings.get(t.setting, t.default)) for t in connector_class.setting_toggles},
        mappings={table.setting: {str(k): str(v) for k, v in (settings.get(table.setting) or {}).items()}
                  for table in offer.tables},
        choices={choice.setting: str(settings.get(choice.setting) or "") for choice in offer.choices},
        notify=notify_settings.saved(integration) if issubclass(connector_class, Notifies) else None,
    )


def _posted_values(connector_class: type[Connector], offer: Offer) -> Values:
    form = request.form
    return Values(
        interval=form.get(INTERVAL_SETTING, "").strip(),
        updated_since=form.get(BACKFILL_SETTING, "").strip(),
        allow_all=form.get(ALLOW_MODE_FIELD) == "all",
        allow_list=set(form.getlist(ALLOW_LIST_FIELD)),
        toggles={t.setting: toggle_field(t.setting) in form for t in connector_class.setting_toggles},
        mappings={table.setting: {row.remote_id: form.get(mapping_field(table, row.remote_id), "").strip()
                                  for row in table.rows}
                  for table in offer.tables},
        choices={choice.setting: form.get(choice_field(choice.setting), "").strip() for choice in offer.choices},
        notify=notify_settings.posted() if issubclass(connector_class, Notifies) else None,
    )


# -- checking and saving -----------------------------------------------------------------------


def _check(values: Values, connector_class: type[Connector], offer: Offer,
           channels: notify_settings.Channels | None = None) -> tuple[dict, dict]:
    """(the settings to store, field errors). Only the keys this page owns are returned;
    None means "remove the key"."""
    errors: dict[str, str] = {}
    changes: dict = {}
    if issubclass(connector_class, Pulls):  # an interval means nothing to a connector that never pulls
        _check_interval(values.interval, errors)
    if values.notify is not None:
        changes.update(notify_settings.check(values.notify, channels or notify_settings.Channels(), errors))
    if issubclass(connector_class, Pulls) and connector_class.supports_backfill:
        changes[BACKFILL_SETTING] = values.updated_since or None
        _check_since(values.updated_since, errors)
    if _has_allow_list(connector_class):
        changes[ALLOW_LIST_SETTING] = _allow_list(values, connector_class, offer, errors)
    for toggle in connector_class.setting_toggles:
        changes[toggle.setting] = values.toggles[toggle.setting]
    for choice in offer.choices:
        changes[choice.setting] = _single(choice, values.choices[choice.setting], errors)
    user_ids = {user.id for user in _user_choices()} if any(t.target == "user" for t in offer.tables) else set()
    for table in offer.tables:
        changes[table.setting] = _overrides(table, values.mappings[table.setting], user_ids, errors)
    return changes, errors


def _check_interval(text: str, errors: dict) -> None:
    # IntegrationService.set_sync_interval checks the range too; checking here as well
    # lets one answer list every field that needs attention.
    low, high = tuning.MIN_SYNC_INTERVAL_MINUTES, tuning.MAX_SYNC_INTERVAL_MINUTES
    if not text.isdigit():
        errors[INTERVAL_SETTING] = "Enter a whole number of minutes."
    elif not low <= int(text) <= high:
        errors[INTERVAL_SETTING] = f"Choose between {low} and {high} minutes."


def _check_since(text: str, errors: dict) -> None:
    if not text:
        return
    try:
        since = date.fromisoformat(text)
    except ValueError:
        errors[BACKFILL_SETTING] = "Enter a date as YYYY-MM-DD, or leave it empty to sync everything."
        return
    if since > timefmt.today_in(current_user.tz):
        errors[BACKFILL_SETTING] = "Choose a day that is not in the future."


def _allow_list(values: Values, connector_class: type[Connector], offer: Offer, errors: dict) -> list[str] | None:
    unknown = values.allow_list - offer.option_ids
    if unknown:
        errors[ALLOW_LIST_FIELD] = f"Not offered by {connector_class.spec.name}: {', '.join(sorted(unknown))}."
    if connector_class.allow_all_until_chosen and values.allow_all:
        return None
    if not connector_class.allow_all_until_chosen and not values.allow_list:
        return None  # the same as an empty choice for these connectors: nothing is imported
    # In the provider's order, so the stored list reads like the page.
    return [option.external_id for option in offer.options if option.external_id in values.allow_list]


def _single(choice: SingleChoice, chosen: str, errors: dict) -> str | None:
    if not chosen:
        return None
    if chosen not in {option.external_id for option in choice.options}:
        errors[choice_field(choice.setting)] = "Choose one of the listed options."
        return None
    return chosen


def _overrides(table: MappingTable, chosen_by_row: dict[str, str], user_ids: set[int], errors: dict) -> dict | None:
    """The rows not left on automatic, as stored: status names, or TimeHub user ids (int)."""
    overrides: dict = {}
    for row in table.rows:
        chosen = chosen_by_row.get(row.remote_id, "")
        if not chosen:
            continue
        if table.target == "task_status" and chosen in TASK_STATUSES:
            overrides[row.remote_id] = chosen
        elif table.target == "user" and chosen.isdigit() and int(chosen) in user_ids:
            overrides[row.remote_id] = int(chosen)
        else:
            errors[mapping_field(table, row.remote_id)] = (
                "Choose one of the listed statuses." if table.target == "task_status"
                else "Choose one of the listed TimeHub users.")
    return overrides or None


def _apply(integration: Integration, changes: dict, defaults: dict) -> bool:
    """Write the page's keys into integration.settings (None: remove the key), keeping every
    other key (the site, the webhooks' state). Returns whether the sync would now behave
    differently: a toggle saved at its default changes nothing."""
    before = dict(integration.settings or {})
    settings = dict(before)
    for key, value in changes.items():
        if value is None:
            settings.pop(key, None)
        else:
            settings[key] = value
    integration.settings = settings

    def effective(values: dict, key: str):
        value = values.get(key, defaults.get(key))
        return None if value == {} else value  # an empty mapping table is no table

    return any(effective(before, key) != effective(settings, key) for key in changes)


def _queue_sync(integration: Integration, connector_class: type[Connector]) -> bool:
    """Pull right away with the new settings, as "Sync now" does; False when there is nothing to pull."""
    if not (integration.connected and issubclass(connector_class, Pulls)):
        return False
    IntegrationService.queue_sync(integration, "manual", after_running=True)
    return True


# -- the page ----------------------------------------------------------------------------------


@bp.route("/integrations/<int:integration_id>/settings", methods=["GET", "POST"])
@login_required
def edit(integration_id: int):
    integration, spec = managed_integration(integration_id)
    connector_class = registry.get_connector(spec.slug)
    offer = _offer(integration, spec, connector_class)
    channels = notify_settings.channels(integration, spec, notify_settings.chosen_group(integration, connector_class)) \
        if issubclass(connector_class, Notifies) else None
    if request.method == "GET":
        return _page(integration, spec, connector_class, offer, _saved_values(integration, connector_class, offer), {},
                     channels=channels)

    values = _posted_values(connector_class, offer)
    changes, errors = _check(values, connector_class, offer, channels)
    if errors:
        return _page(integration, spec, connector_class, offer, values, errors, status=422, channels=channels)
    toggle_defaults = {toggle.setting: toggle.default for toggle in connector_class.setting_toggles}
    sync_relevant = _apply(integration, changes, toggle_defaults)
    if not issubclass(connector_class, Pulls):
        db.session.commit()
        flash(f"{spec.name} settings saved.", "success")
        return redirect(url_for("integration_settings.edit", integration_id=integration.id))
    try:
        # The interval has its own rules and route; saving it also commits the rest.
        IntegrationService().set_sync_interval(current_user, integration, int(values.interval))
    except IntegrationError as exc:
        db.session.rollback()
        return _page(integration, spec, connector_class, offer, values, exc.field_errors or
                     {INTERVAL_SETTING: exc.message}, status=422)
    if not sync_relevant:
        flash(f"{spec.name} settings saved.", "success")
        return redirect(url_for("integration_settings.edit", integration_id=integration.id))
    sync_service.settings_changed(db.session, integration)
    if _queue_sync(integration, connector_class):
        flash(f"{spec.name} settings saved; a sync with them is queued.", "success")
    else:
        flash(f"{spec.name} settings saved; they apply from the next sync.", "success")
    return redirect(url_for("integration_settings.edit", integration_id=integration.id))


def _page(integration: Integration, spec: ProviderSpec, connector_class: type[Connector], offer: Offer,
          values: Values, errors: dict, status: int = 200, channels: notify_settings.Channels | None = None):
    users = _user_choices() if any(table.target == "user" for table in offer.tables) else []
    nothing_chosen = _has_allow_list(connector_class) and not connector_class.allow_all_until_chosen \
        and not values.allow_list
    return render_template(
        "integrations/settings.html", integration=integration, spec=spec, connector=connector_class,
        offer=offer, values=values, errors=errors, users=users, status_labels=TASK_STATUS_LABELS,
        has_mappings=_has_mappings(connector_class),
        nothing_chosen=nothing_chosen, mapping_field=mapping_field, toggle_field=toggle_field,
        choice_field=choice_field,
        min_interval=tuning.MIN_SYNC_INTERVAL_MINUTES, max_interval=tuning.MAX_SYNC_INTERVAL_MINUTES,
        today=timefmt.today_in(current_user.tz).isoformat(),
        pulls=issubclass(connector_class, Pulls), channels=channels, notify_events=notify_settings.NOTIFY_EVENTS,
        command_url=notify_settings.command_url(integration, connector_class),
        outbox=notify_settings.outbox(integration) if channels is not None else None,
        timezones=notify_settings.COMMON_TIMEZONES,
    ), status
