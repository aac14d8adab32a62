"""The notification part of a connection's settings page (connectors that Notify):
the channel, the events, the long-entry threshold, the summaries' local time;
and the "send a test message" button, whose answer is the provider's own.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import time

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import login_required

from app.extensions import db
from app.integrations import registry
from app.integrations.capabilities import (
    AnswersCommands,
    NOTIFY_CHANNEL_SETTING,
    NOTIFY_DAILY_AT_SETTING,
    NOTIFY_EVENTS,
    NOTIFY_EVENTS_SETTING,
    NOTIFY_LONG_HOURS_SETTING,
    NOTIFY_TIMEZONE_SETTING,
    Notifies,
)
from app.integrations.exchange import ChannelGroup, ChannelOption
from app.integrations.http import INTERACTIVE_RETRY, ProviderError
from app.services import notification_service
from app.services.connections import connector_for
from app.routes.integration_access import managed_integration
from app.services.token_service import TokenError
from app.timezones import COMMON_TIMEZONES

bp = Blueprint("notify_settings", __name__)

EVENT_FIELD = "notify_event"
GROUP_FIELD = "notify_group"  # the team picker's choice (Teams): not stored, the channel id holds it


@dataclass
class Channels:
    """What the picker offers. `groups` is None for a provider whose channels are picked
    directly (Slack); else the first step (Teams' teams), with `group` the one chosen and
    `options` its channels."""

    options: list[ChannelOption] = field(default_factory=list)
    error: str | None = None
    groups: list[ChannelGroup] | None = None
    group: str | None = None

    @property
    def ids(self) -> set[str]:
        return {option.channel_id for option in self.options}

    def groups_of_options(self) -> list[tuple[str, list[ChannelOption]]]:
        grouped: dict[str, list[ChannelOption]] = {}
        for option in self.options:
            grouped.setdefault(option.group, []).append(option)
        return list(grouped.items())


def chosen_group(integration, connector_class) -> str | None:
    """The group whose channels to list: on a GET the one asked for (the team picker) or
    the saved channel's; on a POST the posted channel's, which is what is checked."""
    if request.method == "POST":
        channel = request.form.get(NOTIFY_CHANNEL_SETTING, "").strip()
        asked = request.form.get(GROUP_FIELD, "")
        return connector_class.channel_group_of(channel) or asked.strip()[:200] or None
    asked = request.args.get(GROUP_FIELD, "").strip()[:200]
    saved_channel = (integration.settings or {}).get(NOTIFY_CHANNEL_SETTING) or ""
    return asked or connector_class.channel_group_of(saved_channel) or None


def channels(integration, spec, group_id: str | None = None) -> Channels:
    """The channels the connection can post to, read live (someone waits on the page)."""
    if integration.credential is None:
        return Channels(error=f"{spec.name} is not connected: connect it to pick a channel.")
    try:
        connector = connector_for(integration, retry=INTERACTIVE_RETRY)
    except TokenError as exc:
        return Channels(error=exc.message)
    try:
        groups = connector.channel_groups()
        if groups is None:
            return Channels(connector.channel_options())
        labels = {group.group_id: group.label for group in groups}
        if group_id not in labels:
            return Channels(groups=groups)  # a team first, then its channels
        options = [replace(option, group=labels[group_id]) for option in connector.channel_options(group_id)]
        return Channels(options, groups=groups, group=group_id)
    except (ProviderError, TokenError) as exc:
        return Channels(error=f"Could not list the channels of {spec.name}: {exc.message}")
    finally:
        connector.close()


def outbox(integration) -> dict:
    """How many notices wait, were sent or failed, and the latest failures with their reason."""
    return {"counts": notification_service.counts(db.session, integration.id),
            "failures": notification_service.recent_failures(db.session, integration.id)}


def command_url(integration, connector_class) -> str | None:
    """The address to give the provider for chat commands (Slack's Request URL)."""
    if not issubclass(connector_class, AnswersCommands):
        return None
    base = current_app.config.get("TIMEHUB_EXTERNAL_URL") or request.host_url.rstrip("/")
    return f"{base}/commands/{integration.provider}/{integration.webhook_token}"


def saved(integration) -> dict:
    settings = integration.settings or {}
    return {
        "channel": settings.get(NOTIFY_CHANNEL_SETTING) or "",
        "events": set(settings.get(NOTIFY_EVENTS_SETTING) or []),
        "long_hours": str(settings.get(NOTIFY_LONG_HOURS_SETTING) or notification_service.DEFAULT_LONG_ENTRY_HOURS),
        "daily_at": settings.get(NOTIFY_DAILY_AT_SETTING) or notification_service.DEFAULT_DAILY_AT,
        "timezone": settings.get(NOTIFY_TIMEZONE_SETTING) or "UTC",
    }


def posted() -> dict:
    form = request.form
    return {
        "channel": form.get(NOTIFY_CHANNEL_SETTING, "").strip(),
        "events": set(form.getlist(EVENT_FIELD)),
        "long_hours": form.get(NOTIFY_LONG_HOURS_SETTING, "").strip(),
        "daily_at": form.get(NOTIFY_DAILY_AT_SETTING, "").strip(),
        "timezone": form.get(NOTIFY_TIMEZONE_SETTING, "").strip(),
    }


def check(values: dict, offered: Channels, errors: dict) -> dict:
    """The settings to store (None: remove), with field errors added to `errors`."""
    changes: dict = {}
    channel = values["channel"]
    if channel and offered.error is None and channel not in offered.ids:
        errors[NOTIFY_CHANNEL_SETTING] = "Choose one of the listed channels."
    changes[NOTIFY_CHANNEL_SETTING] = channel or None
    unknown = values["events"] - set(NOTIFY_EVENTS)
    if unknown:
        errors[EVENT_FIELD] = "Choose among the listed events."
    changes[NOTIFY_EVENTS_SETTING] = [event for event in NOTIFY_EVENTS if event in values["events"]] or None
    try:
        hours = float(values["long_hours"])
        if not 0.5 <= hours <= 24:
            raise ValueError
        changes[NOTIFY_LONG_HOURS_SETTING] = hours
    except ValueError:
        errors[NOTIFY_LONG_HOURS_SETTING] = "Enter a number of hours between 0.5 and 24."
    try:
        changes[NOTIFY_DAILY_AT_SETTING] = time.fromisoformat(values["daily_at"]).strftime("%H:%M")
    except ValueError:
        errors[NOTIFY_DAILY_AT_SETTING] = "Enter a time as HH:MM."
    if values["timezone"] not in COMMON_TIMEZONES:
        errors[NOTIFY_TIMEZONE_SETTING] = "Choose a time zone such as Europe/Berlin."
    else:
        changes[NOTIFY_TIMEZONE_SETTING] = values["timezone"]
    return changes


@bp.post("/integrations/<int:integration_id>/test-message")
@login_required
def test_message(integration_id: int):
    """Post a test message to the chosen (or saved) channel now and show the provider's answer."""
    integration, spec = managed_integration(integration_id)
    target = url_for("integration_settings.edit", integration_id=integration.id)
    channel = request.form.get(NOTIFY_CHANNEL_SETTING, "").strip() or \
        (integration.settings or {}).get(NOTIFY_CHANNEL_SETTING)
    if not issubclass(registry.get_connector(spec.slug), Notifies):
        return redirect(target)
    if not channel:
        flash("Choose a channel first.", "error")
        return redirect(target)
    try:
        notification_service.send_test(integration, channel,
                                       lambda i: connector_for(i, retry=INTERACTIVE_RETRY))
    except (ProviderError, TokenError) as exc:
        flash(f"The test message was not posted. {exc.message}", "error")
        return redirect(target)
    flash(f"Test message posted; {spec.name} accepted it.", "success")
    return redirect(target)
