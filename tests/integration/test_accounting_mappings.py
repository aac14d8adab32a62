"""What QuickBooks and Xero invoice lines and time are booked to, and who a user is in
QuickBooks: the admin's forms, filled from every page the provider lists, and the exports
that follow them. Real HTTP to the fakes (tests/fakes/quickbooks_api.py, xero_accounting.py)."""
from __future__ import annotations


import pytest
from sqlalchemy import select

from app.integrations.capabilities import BOOKING_SETTING
from app.models import Invoice, Project, TimeEntry
from app.services import invoice_service
from app.services.sync_service import record_change
from tests.conftest import post_form
from tests.integration.test_accounting_sync import (  # noqa: F401 (fixture)
    billable_client,
    draft_for,
    integration_of,
    outbox,
    push,
    set_preferences,
    side,
)

OVERRIDE = {"quickbooks": "2", "xero": "260|NONE"}


def customers_url(integration) -> str:
    return f"/integrations/{integration.id}/customers"


def settings_url(integration) -> str:
    return f"/integrations/{integration.id}/settings"


def sent_lines(side) -> list[dict]:
    [body] = side.sent("invoice")
    return body["Line"] if side.slug == "quickbooks" else body["LineItems"]


def test_a_projects_booking_override_is_saved_from_the_form_and_books_its_lines(db, admin, admin_client, side):
    client = billable_client(db, admin)
    project = db.session.scalars(select(Project)).one()
    integration = integration_of(db, side.slug)
    page = admin_client.get(customers_url(integration)).get_data(as_text=True)
    assert f'name="project:{project.id}"' in page and f'value="{OVERRIDE[side.slug]}"' in page

    response = post_form(admin_client, customers_url(integration),
                         {"booking_default": side.booking, f"project:{project.id}": OVERRIDE[side.slug]},
                         page=customers_url(integration))
    assert response.status_code == 302
    booking = integration_of(db, side.slug).settings[BOOKING_SETTING]
    assert booking == {"default": side.booking, "projects": {str(project.id): OVERRIDE[side.slug]}}
    assert 'selected>' in admin_client.get(customers_url(integration)).get_data(as_text=True)

    invoice = draft_for(client)
    invoice_service.move_to(db.session.get(Invoice, invoice.id), "issued")
    push(db, side.slug)
    [line] = sent_lines(side)
    if side.slug == "quickbooks":
        assert line["SalesItemLineDetail"]["ItemRef"] == {"value": "2"}
    else:
        assert (line["AccountCode"], line["TaxType"]) == ("260", "NONE")

    # Back on the default: the override is gone.
    post_form(admin_client, customers_url(integration), {"booking_default": side.booking, f"project:{project.id}": ""},
              page=customers_url(integration))
    assert integration_of(db, side.slug).settings[BOOKING_SETTING] == {"default": side.booking}


def test_an_override_the_provider_does_not_offer_is_refused_and_nothing_is_saved(db, admin, admin_client, side):
    billable_client(db, admin)
    project = db.session.scalars(select(Project)).one()
    integration = integration_of(db, side.slug)
    response = post_form(admin_client, customers_url(integration),
                         {"booking_default": side.booking, f"project:{project.id}": "no-such-item"},
                         page=customers_url(integration))
    assert response.status_code == 422
    assert "booking from the list" in response.get_data(as_text=True)
    assert integration_of(db, side.slug).settings[BOOKING_SETTING] == {"default": side.booking}


@pytest.mark.parametrize("side", ["quickbooks"], indirect=True)
def test_every_page_of_quickbooks_items_is_offered_for_booking(db, admin, admin_client, side):
    for n in range(1500):  # two pages of Intuit's 1,000 results
        side.api.add_item(f"Item {n:04d}")
    billable_client(db, admin)
    page = admin_client.get(customers_url(integration_of(db, side.slug))).get_data(as_text=True)
    assert "Item 0000" in page and "Item 1499" in page


# -- users <-> QuickBooks employees and vendors ------------------------------------------------

def people_form(mapping: dict[str, str]) -> dict:
    data = {"sync_interval_minutes": "15", "toggle:export_time": "y"}
    data.update({f"map:people:{person}": value for person, value in mapping.items()})
    return data


def queued_time(db, admin):
    entry = db.session.scalars(select(TimeEntry).where(TimeEntry.user_id == admin.id)).one()
    record_change(db.session, "time_entry", entry, "upsert")
    db.session.commit()
    return entry


@pytest.mark.parametrize("side", ["quickbooks"], indirect=True)
def test_the_settings_page_lists_every_employee_and_vendor_and_the_chosen_one_gets_the_time(
        db, admin, admin_client, side):
    for n in range(1100):  # past one page of 1,000
        side.api.add_person("Employee", f"Employee {n:04d}")
    vendor = side.api.add_person("Vendor", "Late Vendor")
    integration = integration_of(db, side.slug)
    page = admin_client.get(settings_url(integration)).get_data(as_text=True)
    assert 'name="map:people:Employee:55"' in page and "Employee 1099" in page
    assert f'name="map:people:Vendor:{vendor["Id"]}"' in page

    response = post_form(admin_client, settings_url(integration), people_form({f"Vendor:{vendor['Id']}": str(admin.id)}),
                         page=settings_url(integration))
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert integration_of(db, side.slug).settings["people"] == {f"Vendor:{vendor['Id']}": admin.id}

    billable_client(db, admin)
    queued_time(db, admin)
    push(db, side.slug)
    [activity] = side.api.time_activities.values()
    assert activity["NameOf"] == "Vendor" and activity["VendorRef"] == {"value": vendor["Id"]}


@pytest.mark.parametrize("side", ["quickbooks"], indirect=True)
def test_an_unknown_user_is_refused_on_the_form(db, admin, admin_client, side):
    integration = integration_of(db, side.slug)
    response = post_form(admin_client, settings_url(integration), people_form({"Employee:55": "999999"}),
                         page=settings_url(integration))
    assert response.status_code == 422
    assert "people" not in (integration_of(db, side.slug).settings or {})


@pytest.mark.parametrize("side", ["quickbooks"], indirect=True)
def test_a_user_chosen_for_two_people_sends_no_time_and_says_why(db, admin, side):
    set_preferences(db, side.slug, {"export_time": True, "people": {"Employee:55": admin.id, "Vendor:56": admin.id}})
    billable_client(db, admin)
    queued_time(db, admin)
    push(db, side.slug)
    [item] = outbox(db, "time_entry")
    assert item.status == "failed" and "only one" in item.last_error and admin.email in item.last_error
    assert side.api.time_activities == {}
