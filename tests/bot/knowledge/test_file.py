"""The operator-edited knowledge file: validated, reloaded on change, robust to a bad edit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from bot.core.errors import KnowledgeError
from bot.core.settings import PROJECT_ROOT
from bot.knowledge.file import KnowledgeSource, load_knowledge, parse_knowledge

SHIPPED = PROJECT_ROOT / "bot" / "knowledge.yml"


def _raw() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def test_shipped_file_covers_every_service_and_marks_each_step() -> None:
    k = load_knowledge(SHIPPED)
    assert len(k.services) == 11
    codes = " ".join(w.text for w in k.service("call_diversion").workarounds)
    assert "**21*<number>#" in codes and "##21#" in codes
    assert all(w.confirmed for w in k.service("call_diversion").workarounds)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["services"].pop("email"), "missing service keys: email"),
        (lambda d: d["services"].update(fax={}), "unknown service keys: fax"),
        (lambda d: d["services"]["email"].update(name=""), "services.email.name"),
        (lambda d: d["services"]["email"]["workarounds"][0].pop("confirmed"), "confirmed: true|false"),
        (lambda d: d["services"]["email"].update(group="space"), "group must be one of"),
        (lambda d: d.update(contact=None), "contact must be non-empty"),
    ],
)
def test_malformed_entries_are_named(mutate, message) -> None:  # type: ignore[no-untyped-def]
    data = _raw()
    mutate(data)
    with pytest.raises(KnowledgeError, match=message):
        parse_knowledge(data)


@pytest.mark.parametrize("content", [b"", b"\x00\xff\xfe binary", b"services: [unclosed", b"- a list"])
def test_unreadable_files_raise_knowledge_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "k.yml"
    path.write_bytes(content)
    with pytest.raises(KnowledgeError):
        load_knowledge(path)


def test_source_reloads_after_edit_and_keeps_last_good_on_bad_edit(tmp_path: Path) -> None:
    path = tmp_path / "k.yml"
    data = _raw()
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    source = KnowledgeSource(path)
    assert source.get().contact == data["contact"]

    data["contact"] = "Call 0800 NEW NUMBER"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    os.utime(path, (1, 1))  # make sure the mtime differs even on coarse clocks
    assert source.get().contact == "Call 0800 NEW NUMBER"

    path.write_text("services: [broken", encoding="utf-8")
    os.utime(path, (2, 2))
    assert source.get().contact == "Call 0800 NEW NUMBER"


def test_missing_file_without_cache_raises(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError):
        KnowledgeSource(tmp_path / "nope.yml").get()
