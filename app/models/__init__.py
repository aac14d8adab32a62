"""All models, imported here so that Alembic and the app see every table."""
from app.models.account_token import AccountToken
from app.models.calendar_event import CalendarEvent, CalendarEventPerson, CalendarSeriesChoice
from app.models.client import Client
from app.models.integration import (
    ExternalLink,
    Integration,
    IntegrationCredential,
    OutboxItem,
    ProviderApp,
    SyncCursor,
    SyncPreview,
    SyncRun,
    WebhookDelivery,
)
from app.models.invoice import Invoice, InvoiceLine
from app.models.notification import Notification
from app.models.project import Project
from app.models.seller import SellerDetails
from app.models.rate_settings import RateSettings
from app.models.tag import Tag, time_entry_tags
from app.models.task import Task
from app.models.time_entry import TimeEntry
from app.models.user import ApiToken, User
from app.models.user_session import UserSession

__all__ = [
    "AccountToken", "ApiToken", "CalendarEvent", "CalendarEventPerson", "CalendarSeriesChoice", "Client", "ExternalLink", "Integration",
    "IntegrationCredential", "Invoice", "InvoiceLine", "Notification", "OutboxItem", "Project", "ProviderApp",
    "RateSettings", "SellerDetails", "SyncCursor", "SyncPreview", "SyncRun", "Tag", "Task", "TimeEntry", "User",
    "UserSession", "WebhookDelivery", "time_entry_tags",
]
