"""What Teams and Outlook share: the Microsoft identity platform and Graph.
Endpoints only; each connector module keeps its own spec."""
from app.integrations.base import OAUTH_APP_FIELDS, SetupField

MICROSOFT_AUTHORIZE_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize"
MICROSOFT_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
GRAPH_API = "https://graph.microsoft.com/v1.0"

MICROSOFT_APP_FIELDS = (
    SetupField("tenant", "Tenant", required=False, default="organizations",
               help="Your directory (tenant) ID or domain; 'organizations' accepts any work account."),
) + OAUTH_APP_FIELDS
