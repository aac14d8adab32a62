"""Trello (API key + token): boards -> projects, cards -> tasks; webhooks signed with HMAC-SHA1."""
from app.integrations.base import Connector
from app.integrations.capabilities import VerifiesApiKey
from app.integrations.exchange import AccountInfo
from app.integrations.ratelimit import RateLimit
from app.integrations.spec import ProviderSpec, SetupField
from app.integrations.http import INTERACTIVE_RETRY, ProviderClient

SPEC = ProviderSpec(
    slug="trello",
    name="Trello",
    scope="global",
    auth_kind="api_key",
    api_base="https://api.trello.com/1",
    console_url="https://trello.com/power-ups/admin",
    register_steps=(
        "Create a Power-Up in the Trello Power-Up admin portal (any name; it only holds the API key).",
        "Open its API key tab and generate a new API key; copy the key.",
        "Follow the 'Token' link next to the key, allow access, and copy the token it shows.",
    ),
    setup_fields=(
        SetupField("api_key", "API key", secret=True),
        SetupField("token", "Token", secret=True),
    ),
    rate_limit=RateLimit(90, 10.0, 4),  # 100 per 10 s per token
    features={
        "import": "Boards become TimeHub projects and their cards become tasks.",
        "webhooks": "Changes arrive at once through Trello webhooks.",
    },
    defaults={"sync_interval_minutes": 15},
)


class TrelloConnector(Connector, VerifiesApiKey):
    spec = SPEC

    @classmethod
    def api_key_auth(cls, credentials: dict) -> tuple[dict, dict]:
        # Trello's documented scheme: key and token as query parameters.
        return {"key": credentials["api_key"], "token": credentials["token"]}, {}

    @classmethod
    def client(cls, api_base: str, api_key: str, token: str, **kwargs) -> ProviderClient:
        params, headers = cls.api_key_auth({"api_key": api_key, "token": token})
        return ProviderClient(SPEC.name, api_base, auth_params=params, auth_headers=headers, **kwargs)

    @classmethod
    def verify(cls, api_base: str, credentials: dict, **client_kwargs) -> AccountInfo:
        """Check key + token with GET /members/me; raises ProviderError when refused."""
        client_kwargs.setdefault("retry", INTERACTIVE_RETRY)  # someone is waiting on the page
        with cls.client(api_base, credentials["api_key"], credentials["token"], **client_kwargs) as client:
            member = client.get_json("members/me", params={"fields": "fullName,username"})
        name = member.get("fullName") or member.get("username") or member.get("id", "")
        username = member.get("username")
        return AccountInfo(label=f"{name} (@{username})" if username and username != name else name)
