"""GitHub (OAuth app): repository issues -> tasks; webhooks signed with HMAC-SHA256."""
from __future__ import annotations

import base64

from app.integrations.base import Connector
from app.integrations.ratelimit import RateLimit
from app.integrations.spec import OAUTH_APP_FIELDS, ProviderSpec, SetupField
from app.integrations.http import ErrorShape, NotFoundError, ProviderError
from app.integrations.oauth import ConnectedAccount, OAuthProvider, RevocationFailed, TokenSet

# GitHub's recommended headers for REST calls.
API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}

SPEC = ProviderSpec(
    slug="github",
    name="GitHub",
    scope="global",
    auth_kind="oauth2",
    authorize_url="https://github.com/login/oauth/authorize",
    token_url="https://github.com/login/oauth/access_token",
    revoke_url="https://api.github.com/applications/{client_id}/grant",
    api_base="https://api.github.com",
    scopes=("repo", "read:user", "user:email", "admin:repo_hook"),
    console_url="https://github.com/settings/developers",
    # GitHub answers 403 (with X-RateLimit-Remaining: 0 or Retry-After) when a rate limit is used up.
    errors=ErrorShape(rate_limit_as_403=True),
    register_steps=(
        "Register a new OAuth app under Settings > Developer settings > OAuth Apps (or your organisation's).",
        "Set the authorization callback URL to the one below.",
        "Generate a client secret and copy it with the client ID into this form.",
    ),
    setup_fields=OAUTH_APP_FIELDS + (
        SetupField("webhook_secret", "Webhook secret", secret=True, required=False, generated=True,
                   help="Used to sign repository webhooks; generated for you when left empty."),
    ),
    rate_limit=RateLimit(4_500, 3_600.0, 4),  # 5,000 per hour per token; secondary limits dislike concurrency
    features={
        "import": "Issues of the repositories you choose become TimeHub tasks.",
        "webhooks": "Changes arrive at once through repository webhooks.",
    },
    defaults={"sync_interval_minutes": 15},
)


class GitHubConnector(Connector):
    spec = SPEC

    # OAuth notes. The token endpoint answers form-encoded unless asked for JSON;
    # the engine's client (Authlib) always sends `Accept: application/json`. An OAuth
    # app's token has no expiry and no refresh token, so the token service never
    # refreshes it: a 401 means the grant is gone and the admin must reconnect.

    @classmethod
    def oauth_connected_account(cls, provider: OAuthProvider, token: TokenSet,
                                callback_params: dict) -> ConnectedAccount:
        """The account is the login of `GET /user`."""
        with provider.api_client(token, headers=API_HEADERS) as client:
            user = client.get_json("user")
        settings = {"github_user_id": user["id"]} if user.get("id") else {}
        return ConnectedAccount(label=user.get("login"), settings=settings)

    @classmethod
    def oauth_revoke(cls, provider: OAuthProvider, token: TokenSet) -> bool:
        """`DELETE /applications/{client_id}/grant`: the app authenticates with HTTP Basic
        (client id and secret), the user's token goes in the JSON body; the whole
        grant (every token of this app for that user) is deleted."""
        url = provider.endpoints.revoke_url
        if not url:
            return False
        basic = base64.b64encode(f"{provider.client_id}:{provider.client_secret}".encode()).decode("ascii")
        try:
            with provider.api_client(token, base_url=url,
                                     headers={**API_HEADERS, "Authorization": f"Basic {basic}"}) as client:
                client.request("DELETE", url, json={"access_token": token.access_token})
        except NotFoundError:
            # GitHub answers 404 both for an unknown token and for wrong app credentials.
            raise RevocationFailed("GitHub found no grant to delete: it was already removed at GitHub, "
                                   "or the OAuth app's client secret has changed") from None
        except ProviderError as exc:
            raise RevocationFailed(f"GitHub did not delete the grant: {exc.message}") from None
        return True
