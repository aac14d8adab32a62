"""The sandbox banner (`make sandbox`, TIMEHUB_SANDBOX=1): on every page when the flag is
set, on none when it is not (the default). Apart from test_sandbox.py, whose sandbox sets
the flag in the environment for its whole module."""
from __future__ import annotations

from app.config import load_config

BANNER = "every provider here is a local fake"


def test_the_banner_shows_on_every_page_only_when_the_flag_is_set(app, user_client, monkeypatch):
    # Signed in and out, and an error page (whose template empties the other banners).
    visits = ((user_client, "/", 200), (app.test_client(), "/login", 200), (user_client, "/no-such-page", 404))

    def pages() -> list[str]:
        answers = [(client.get(path), status) for client, path, status in visits]
        assert [response.status_code for response, _ in answers] == [status for _, status in answers]
        return [response.get_data(as_text=True) for response, _ in answers]

    assert not any(BANNER in page for page in pages())
    app.config["TIMEHUB_SANDBOX"] = True
    assert all(BANNER in page for page in pages())

    monkeypatch.delenv("TIMEHUB_SANDBOX", raising=False)
    assert load_config()["TIMEHUB_SANDBOX"] is False
    monkeypatch.setenv("TIMEHUB_SANDBOX", "1")
    assert load_config()["TIMEHUB_SANDBOX"] is True
