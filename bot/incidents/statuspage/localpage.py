"""A local status page that speaks Statuspage v2 JSON, for the demo and the tests.

It serves the files in a folder (`summary.json`, `incidents/unresolved.json`,
`incidents.json`, `scheduled-maintenances.json`) under `/api/v2/`, with ETag and
Last-Modified so that the sync's conditional requests are exercised. `PageState` writes
those files; tests change them while the server runs (and make it misbehave with
`tests/support/faulty_page.py`).

    python -m bot.ops.status_page --dir var/statuspage --port 8001 --demo
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import formatdate
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

FILES = {
    "summary": "summary.json",
    "incidents/unresolved": "incidents-unresolved.json",
    "incidents": "incidents.json",
    "scheduled-maintenances": "scheduled-maintenances.json",
}


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _id(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:12]


@dataclass
class PageState:
    """The page's content. Change it, then `write()`; the server serves the new files at once."""

    folder: Path
    name: str = "Telco status"
    components: dict[str, str] = field(default_factory=dict)  # name -> status
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> incident JSON
    maintenances: dict[str, dict[str, Any]] = field(default_factory=dict)

    def component_json(self, name: str, now: datetime) -> dict[str, Any]:
        return {"id": _id(name), "name": name, "status": self.components[name], "updated_at": _iso(now)}

    def open_incident(
        self,
        name: str,
        body: str,
        components: dict[str, str],
        *,
        now: datetime,
        status: str = "investigating",
        impact: str = "major",
    ) -> str:
        incident_id = secrets.token_hex(6)
        self.components.update(components)
        self.incidents[incident_id] = {
            "id": incident_id,
            "name": name,
            "status": status,
            "impact": impact,
            "created_at": _iso(now),
            "updated_at": _iso(now),
            "started_at": _iso(now),
            "resolved_at": None,
            "shortlink": "http://127.0.0.1/x",
            "incident_updates": [],
            "components": [],
            "_components": sorted(components),
        }
        self.post_update(incident_id, body, status=status, now=now)
        return incident_id

    def post_update(
        self,
        incident_id: str,
        body: str,
        *,
        now: datetime,
        status: str | None = None,
        components: dict[str, str] | None = None,
    ) -> None:
        incident = self.incidents[incident_id]
        self.components.update(components or {})
        status = status or incident["status"]
        incident["status"] = status
        incident["updated_at"] = _iso(now)
        names = incident["_components"]
        incident["incident_updates"].insert(
            0,
            {
                "id": secrets.token_hex(6),
                "status": status,
                "body": body,
                "incident_id": incident_id,
                "created_at": _iso(now),
                "updated_at": _iso(now),
                "display_at": _iso(now),
                "affected_components": [
                    {"code": _id(n), "name": n, "old_status": self.components[n], "new_status": self.components[n]}
                    for n in names
                ],
            },
        )
        if status == "resolved":
            incident["resolved_at"] = _iso(now)

    def resolve(self, incident_id: str, body: str, *, now: datetime) -> None:
        for name in self.incidents[incident_id]["_components"]:
            self.components[name] = "operational"
        self.post_update(incident_id, body, status="resolved", now=now)

    def write(self, now: datetime | None = None) -> None:
        now = now or datetime.now(timezone.utc)
        self.folder.mkdir(parents=True, exist_ok=True)

        def public(incident: dict[str, Any]) -> dict[str, Any]:
            shown = {k: v for k, v in incident.items() if not k.startswith("_")}
            shown["components"] = [self.component_json(n, now) for n in incident["_components"]]
            return shown

        page = {"id": "localpage", "name": self.name, "url": "http://127.0.0.1", "updated_at": _iso(now)}
        everything = [public(i) for i in self.incidents.values()]
        unresolved = [i for i in everything if i["status"] not in ("resolved", "postmortem")]
        worst = max((s for s in self.components.values()), key=_severity, default="operational")
        documents = {
            "summary": {
                "page": page,
                "components": [self.component_json(n, now) for n in self.components],
                "incidents": unresolved,
                "scheduled_maintenances": [m for m in self.maintenances.values() if m["status"] != "completed"],
                "status": {"indicator": _INDICATOR.get(worst, "minor"), "description": _DESCRIPTION.get(worst, worst)},
            },
            "incidents/unresolved": {"page": page, "incidents": unresolved},
            "incidents": {"page": page, "incidents": everything},
            "scheduled-maintenances": {"page": page, "scheduled_maintenances": list(self.maintenances.values())},
        }
        for key, document in documents.items():
            target = self.folder / FILES[key]
            tmp = target.with_suffix(".tmp")
            tmp.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
            tmp.replace(target)  # atomic: the server never serves half a file


_ORDER = ["operational", "degraded_performance", "under_maintenance", "partial_outage", "major_outage"]
_INDICATOR = {
    "operational": "none",
    "degraded_performance": "minor",
    "under_maintenance": "maintenance",
    "partial_outage": "major",
    "major_outage": "critical",
}
_DESCRIPTION = {
    "operational": "All Systems Operational",
    "degraded_performance": "Minor Service Outage",
    "under_maintenance": "Service Under Maintenance",
    "partial_outage": "Partial System Outage",
    "major_outage": "Major System Outage",
}


def _severity(status: str) -> int:
    return _ORDER.index(status) if status in _ORDER else 1


def create_page_app(folder: Path) -> Starlette:
    async def serve(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in FILES:
            return JSONResponse({"error": "not found"}, 404)
        path = folder / FILES[name]
        if not path.exists():
            return JSONResponse({"error": "not found"}, 404)
        data = path.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
        modified = formatdate(path.stat().st_mtime, usegmt=True)
        headers = {"ETag": etag, "Last-Modified": modified, "Cache-Control": "no-cache"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(data, media_type="application/json", headers=headers)

    async def alive(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/api/v2/{name:path}.json", serve), Route("/health", alive)])


def demo_state(folder: Path, now: datetime | None = None) -> PageState:
    """The demo outage as the operator's status page would show it."""
    now = now or datetime.now(timezone.utc)
    state = PageState(folder, components={n: "operational" for n in ("Mobile network", "Broadband", "Landline")})
    state.open_incident(
        "Customer systems disrupted after maintenance",
        "Work on our customer management platform did not go to plan. Top-ups, roaming changes, call diversion, "
        "My Account and in-store transactions are affected. Calls, texts and broadband are working.",
        {
            "Prepaid top-up": "major_outage",
            "Roaming": "major_outage",
            "Call diversion": "major_outage",
            "Website and app": "major_outage",
            "Retail stores": "partial_outage",
        },
        now=now - timedelta(hours=26),
        status="identified",
    )
    return state
