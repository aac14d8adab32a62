"""Who a chat-command sender is, as the provider last said (Slack's users.info e-mail).

Asking the provider takes a call that may be slow or rate limited, and the slash
command must answer within three seconds: with the answer kept here for a day, a
known sender's command is answered at once, and only a new (or stale) sender's
work is deferred to the provider's reply URL.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class CommandSender(db.Model):
    __tablename__ = "command_senders"
    __table_args__ = (UniqueConstraint("integration_id", "remote_user_id", name="uq_command_senders_remote_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    remote_user_id: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))  # None: the provider shows none
    checked_at: Mapped[datetime]
