"""Connecting OAuth 2.0 providers: /integrations/<slug>/connect and /callback."""
from flask import Blueprint

bp = Blueprint("oauth", __name__)
