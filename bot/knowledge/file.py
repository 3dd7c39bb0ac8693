"""The operator-edited knowledge file: service names, normal ways, workarounds, policies.

Operators edit the YAML while the assistant runs; the file is re-read when its
modification time changes, so no restart is needed.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.core.errors import KnowledgeError
from bot.knowledge.catalogue import GROUPS, SERVICE_KEYS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workaround:
    text: str
    confirmed: bool


@dataclass(frozen=True)
class ServiceInfo:
    key: str
    name: str
    group: str
    normal_way: str
    workarounds: tuple[Workaround, ...]
    # "Bill payments are", "Voicemail is": the name's grammatical number, from the file.
    plural: bool = False
    # What a customer can try when the service is back for everyone but not for them.
    troubleshooting: tuple[str, ...] = ()

    @property
    def is_are(self) -> str:
        return "are" if self.plural else "is"


@dataclass(frozen=True)
class Knowledge:
    services: dict[str, ServiceInfo]
    compensation_policy: str
    contact: str
    # Escalation to people: when staff work, what to do in an emergency, and the words that
    # mean a customer's safety or health depends on their phone (matched as whole words).
    staff_hours: str = "Our support team works 8 am to 8 pm, seven days a week."
    emergency: str = "If you or someone else is in danger or needs urgent medical help, call 111 now."
    safety_words: tuple[str, ...] = ()
    time_critical_words: tuple[str, ...] = ()

    def service(self, key: str) -> ServiceInfo:
        try:
            return self.services[key]
        except KeyError:
            raise KnowledgeError(f"the knowledge file has no entry for service {key!r}") from None


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise KnowledgeError(f"{where} must be non-empty text")
    return value.strip()


def parse_knowledge(data: Any) -> Knowledge:
    """Validate the YAML structure and return it typed; every problem names its place."""
    if not isinstance(data, dict):
        raise KnowledgeError("the knowledge file must be a mapping at the top level")
    raw_services = data.get("services")
    if not isinstance(raw_services, dict):
        raise KnowledgeError("'services' must be a mapping of service key to details")
    unknown = sorted(set(map(str, raw_services)) - set(SERVICE_KEYS))
    if unknown:
        raise KnowledgeError(f"unknown service keys: {', '.join(unknown)}")
    missing = [k for k in SERVICE_KEYS if k not in raw_services]
    if missing:
        raise KnowledgeError(f"missing service keys: {', '.join(missing)}")
    services: dict[str, ServiceInfo] = {}
    for key in SERVICE_KEYS:
        entry = raw_services[key]
        where = f"services.{key}"
        if not isinstance(entry, dict):
            raise KnowledgeError(f"{where} must be a mapping")
        group = _text(entry.get("group"), f"{where}.group")
        if group not in GROUPS:
            raise KnowledgeError(f"{where}.group must be one of {', '.join(GROUPS)}")
        raw_steps = entry.get("workarounds", [])
        if not isinstance(raw_steps, list):
            raise KnowledgeError(f"{where}.workarounds must be a list")
        steps = []
        for i, step in enumerate(raw_steps):
            if not isinstance(step, dict) or not isinstance(step.get("confirmed"), bool):
                raise KnowledgeError(f"{where}.workarounds[{i}] needs 'text' and 'confirmed: true|false'")
            steps.append(Workaround(_text(step.get("text"), f"{where}.workarounds[{i}].text"), step["confirmed"]))
        plural = entry.get("plural", False)
        if not isinstance(plural, bool):
            raise KnowledgeError(f"{where}.plural must be true or false")
        raw_checks = entry.get("troubleshooting") or []
        if not isinstance(raw_checks, list):
            raise KnowledgeError(f"{where}.troubleshooting must be a list")
        checks = tuple(_text(c, f"{where}.troubleshooting[{i}]") for i, c in enumerate(raw_checks))
        services[key] = ServiceInfo(
            key=key,
            name=_text(entry.get("name"), f"{where}.name"),
            group=group,
            normal_way=_text(entry.get("normal_way"), f"{where}.normal_way"),
            workarounds=tuple(steps),
            plural=plural,
            troubleshooting=checks,
        )
    escalation = data.get("escalation") or {}
    if not isinstance(escalation, dict):
        raise KnowledgeError("'escalation' must be a mapping")
    lists = {}
    for name in ("safety_words", "time_critical_words"):
        words = escalation.get(name) or []
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
            raise KnowledgeError(f"escalation.{name} must be a list of words or phrases")
        lists[name] = tuple(w.strip().lower() for w in words)
    return Knowledge(
        services=services,
        compensation_policy=str(data.get("compensation_policy") or "").strip(),
        contact=_text(data.get("contact"), "contact"),
        staff_hours=_text(escalation.get("staff_hours"), "escalation.staff_hours"),
        emergency=_text(escalation.get("emergency"), "escalation.emergency"),
        safety_words=lists["safety_words"],
        time_critical_words=lists["time_critical_words"],
    )


def load_knowledge(path: Path) -> Knowledge:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError(f"cannot read knowledge file {path}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KnowledgeError(f"knowledge file {path} is not valid YAML: {exc}") from exc
    return parse_knowledge(data)


class KnowledgeSource:
    """Re-reads the file when it changes; keeps the last good version if an edit breaks it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._cached: Knowledge | None = None

    def get(self) -> Knowledge:
        with self._lock:
            try:
                mtime = self.path.stat().st_mtime
            except OSError as exc:
                if self._cached is not None:
                    return self._cached
                raise KnowledgeError(f"cannot read knowledge file {self.path}: {exc}") from exc
            if self._cached is None or mtime != self._mtime:
                try:
                    self._cached = load_knowledge(self.path)
                except KnowledgeError as exc:
                    if self._cached is None:
                        raise
                    logger.warning("keeping the previous knowledge file: %s", exc)
                    # A half-saved edit must not take the assistant down: keep serving the last good file.
                self._mtime = mtime
            return self._cached
