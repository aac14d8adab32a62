"""Tags through the API: the team's list, entries carrying tags by name (set, replaced, kept,
filtered on), reports per tag, and the bounds; a new entry's billable flag follows its project."""
from __future__ import annotations

from datetime import timedelta

from app.models import Project
from app.models.base import utcnow
from tests.integration.test_api_resources import bearer, project  # noqa: F401 - fixtures


def moment(hours_ago: float) -> str:
    return (utcnow() - timedelta(hours=hours_ago)).replace(microsecond=0).isoformat() + "Z"


def test_entries_carry_tags_by_name_and_can_be_listed_and_reported_by_tag(client, user, project, bearer, db):
    headers = bearer(user)
    created = client.post("/api/v1/tags", json={"name": "  Design "}, headers=headers)
    assert created.status_code == 201 and created.get_json()["name"] == "Design"
    again = client.post("/api/v1/tags", json={"name": "design"}, headers=headers)
    assert again.status_code == 200 and again.get_json()["id"] == created.get_json()["id"]

    tagged = client.post("/api/v1/time-entries", headers=headers, json={
        "started_at": moment(3), "ended_at": moment(2), "project_id": project.id, "tags": ["design", "Review"]})
    assert tagged.status_code == 201 and tagged.get_json()["tags"] == ["Design", "Review"]
    plain = client.post("/api/v1/time-entries", headers=headers, json={
        "started_at": moment(2), "ended_at": moment(1.5), "project_id": project.id})
    assert plain.get_json()["tags"] == []
    assert {t["name"] for t in client.get("/api/v1/tags", headers=headers).get_json()["items"]} == {"Design", "Review"}

    design = created.get_json()["id"]
    listed = client.get(f"/api/v1/time-entries?tag_id={design}", headers=headers).get_json()["items"]
    assert [e["id"] for e in listed] == [tagged.get_json()["id"]]
    # Yesterday and today: the entries started up to 3 hours ago, whatever the time of day.
    first, last = (utcnow() - timedelta(days=1)).date(), utcnow().date()
    report = client.get(f"/api/v1/reports?period=custom&from={first}&to={last}&group=tag&tag_id={design}",
                        headers=headers).get_json()
    # Only the Design entry's time, in each of its tags' rows, counted once in the total.
    assert [(row["label"], row["hours"]) for row in report["rows"]] == [("Design", "1.00"), ("Review", "1.00")]
    assert report["total"]["hours"] == "1.00"

    entry = tagged.get_json()
    kept = client.patch(f"/api/v1/time-entries/{entry['id']}", json={"description": "Mock-ups"}, headers=headers)
    assert kept.get_json()["tags"] == ["Design", "Review"]  # not named: left as they are
    replaced = client.patch(f"/api/v1/time-entries/{entry['id']}", json={"tags": []}, headers=headers)
    assert replaced.status_code == 200 and replaced.get_json()["tags"] == []


def test_tag_bounds_are_kept_and_a_new_entry_takes_its_projects_billable_default(client, user, project, bearer, db):
    headers = bearer(user)
    too_many = client.post("/api/v1/time-entries", headers=headers, json={
        "started_at": moment(3), "ended_at": moment(2), "tags": [f"t{n}" for n in range(11)]})
    assert too_many.status_code == 422
    assert client.post("/api/v1/tags", json={"name": "x" * 41}, headers=headers).status_code == 422
    assert client.post("/api/v1/tags", json={"name": " "}, headers=headers).status_code == 422
    assert client.post("/api/v1/tags", json={"name": "a, b"}, headers=headers).status_code == 422
    assert client.get("/api/v1/tags", headers=headers).get_json()["items"] == []

    db.session.get(Project, project.id).billable_by_default = False
    db.session.commit()
    entry = client.post("/api/v1/time-entries", headers=headers, json={
        "started_at": moment(3), "ended_at": moment(2), "project_id": project.id}).get_json()
    assert entry["billable"] is False
