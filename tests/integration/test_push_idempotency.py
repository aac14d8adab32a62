"""The idempotency key of a push belongs to the outbox change it sends: every attempt of
that change, in this run or a later one, sends the same key, so a create whose answer
was lost is not made twice when the next run tries again."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app.models import ExternalLink, OutboxItem, TimeEntry
from app.models.base import utcnow
from app.services import sync_service
from app.services.sync_service import record_change
from tests.fakes.paged_provider import Faults, PagedProvider
from tests.integration.test_sync_engine import fast_factory, make_integration, paged_registered  # noqa: F401


def test_a_later_run_retrying_a_lost_create_sends_the_same_key_and_creates_nothing_new(db, user, monkeypatch,
                                                                                      paged_registered):  # noqa: F811
    with PagedProvider(records=0, faults=Faults(rate=1.0, kinds=("reset",))) as fake:
        integration = make_integration(db, fake.url, monkeypatch)
        start = utcnow() - timedelta(hours=3)
        entry = TimeEntry(user_id=user.id, description="Boiler repair", started_at=start,
                          ended_at=start + timedelta(hours=1))
        db.session.add(entry)
        db.session.flush()
        record_change(db.session, "time_entry", entry, "upsert")
        db.session.commit()

        # Run 1: every answer is lost after the provider did the work; the change stays pending.
        assert sync_service.push_pending(integration.id, connector_factory=fast_factory(fake.url)) == 0
        item = db.session.scalars(select(OutboxItem)).one()
        assert (item.status, item.attempts) == ("pending", 1)
        assert len(fake.created) == 1
        keys_after_first_run = set(fake._by_idempotency_key)

        # Run 2, once the change is due again and the provider answers.
        fake.faults = Faults()
        item.next_attempt_at = utcnow()
        db.session.commit()
        assert sync_service.push_pending(integration.id, connector_factory=fast_factory(fake.url)) == 1

        assert set(fake._by_idempotency_key) == keys_after_first_run and len(keys_after_first_run) == 1
        assert [record["title"] for record in fake.created] == ["Boiler repair"]
    link = db.session.scalars(select(ExternalLink)).one()
    assert link.external_id == fake.created[0]["id"]
    assert db.session.scalar(select(func.count()).select_from(OutboxItem).where(OutboxItem.status == "done")) == 1
