"""The navigation shown to each role (the server still checks every route)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, request, url_for
from flask_login import current_user

ITEMS = (
    ("verificateur", "Candidatures", "reviewer.home"),
    ("verificateur", "Sections à revoir", "reviewer.section_queue_page"),
    ("verificateur", "Activité", "reviewer.activite"),
    ("verificateur", "Exports", "reviewer.exports_page"),
    ("college", "Collège de certification", "college.home"),
    (("verificateur", "college", "admin"), "Statistiques", "statistics.page"),
    ("support", "Support", "support.home"),
    ("admin", "Administration", "admin.index"),
)


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    active: bool


def nav_items() -> list[NavItem]:
    if not current_user.is_authenticated:
        return []
    links = [(label, url_for(endpoint)) for roles, label, endpoint in ITEMS
             if current_user.has_role(*((roles,) if isinstance(roles, str) else roles))]
    # the longest matching prefix is the current area ("/instruction/sections" over "/instruction/")
    matching = [url for _, url in links if request.path.startswith(url.rstrip("/") or "/")]
    active = max(matching, key=len, default=None)
    return [NavItem(label, url, url == active) for label, url in links]


def init_app(app: Flask) -> None:
    app.jinja_env.globals["nav_items"] = nav_items
