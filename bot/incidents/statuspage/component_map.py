"""Which of our services each status-page component stands for (bot/statuspage_map.yml), validated
against the service table once and kept until the file changes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.errors import ConfigurationError
from bot.db.models import Service
from bot.incidents.statuspage.parse import Component


@dataclass(frozen=True)
class ComponentMap:
    """Status-page components (by id or by name) to the project's service keys."""

    by_id: dict[str, tuple[str, ...]]
    by_name: dict[str, tuple[str, ...]]

    def services(self, component: Component | str, name: str = "") -> tuple[str, ...]:
        cid = component.id if isinstance(component, Component) else component
        cname = component.name if isinstance(component, Component) else name
        return self.by_id.get(cid) or self.by_name.get(cname.strip().lower(), ())


def load_component_map(path: Path, known_services: Iterable[str] | None = None) -> ComponentMap:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read the status page component map {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("components"), list):
        raise ConfigurationError(f"{path}: expected a `components:` list")
    known = set(known_services) if known_services is not None else None
    by_id: dict[str, tuple[str, ...]] = {}
    by_name: dict[str, tuple[str, ...]] = {}
    for i, entry in enumerate(data["components"]):
        if not isinstance(entry, dict) or not (entry.get("id") or entry.get("name")):
            raise ConfigurationError(f"{path}: components[{i}] needs an id or a name")
        services = entry.get("services", entry.get("service"))
        keys = tuple([services] if isinstance(services, str) else services or ())
        if not keys or not all(isinstance(k, str) for k in keys):
            raise ConfigurationError(f"{path}: components[{i}] needs `services`")
        if known is not None and (unknown := set(keys) - known):
            raise ConfigurationError(f"{path}: components[{i}] names unknown services {sorted(unknown)}")
        if entry.get("id"):
            by_id[str(entry["id"])] = keys
        if entry.get("name"):
            by_name[str(entry["name"]).strip().lower()] = keys
    return ComponentMap(by_id=by_id, by_name=by_name)


class ComponentMapFile:
    """The map file, validated against the services in the store, re-read only when it changes.

    The poller and the webhook share this, so a pushed update costs no file read and the map is
    never used unvalidated.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._loaded: tuple[float, ComponentMap] | None = None

    def get(self, session: Session) -> ComponentMap:
        try:
            mtime = self.path.stat().st_mtime
        except OSError as exc:
            raise ConfigurationError(f"cannot read the status page component map {self.path}: {exc}") from exc
        if self._loaded is None or self._loaded[0] != mtime:
            known = list(session.scalars(select(Service.key)))
            self._loaded = (mtime, load_component_map(self.path, known))
        return self._loaded[1]
