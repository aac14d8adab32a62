"""Who is in the sandbox's demo team, and the client they work for."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    key: str
    name: str
    email: str
    admin: bool = False


ADMIN = Person("ada", "Ada Admin", "ada@sandbox.example", admin=True)
USERS = (Person("ulla", "Ulla User", "ulla@sandbox.example"), Person("uwe", "Uwe User", "uwe@sandbox.example"))
TEAM = (ADMIN, *USERS)

CLIENT_NAME, CLIENT_EMAIL = "Acme Corp", "ap@acme.example"
