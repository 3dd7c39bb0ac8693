"""Which services each status-page component stands for, validated against the catalogue."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from bot.core.errors import ConfigurationError
from bot.incidents.statuspage.component_map import load_component_map
from bot.knowledge.file import Knowledge


def test_component_map_refuses_unknown_services(tmp_path: Path) -> None:
    path = tmp_path / "map.yml"
    path.write_text("components:\n  - name: X\n    services: [teleport]\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="teleport"):
        load_component_map(path, ["email"])
    path.write_text("nothing: here\n", encoding="utf-8")
    with pytest.raises(ConfigurationError):
        load_component_map(path)


def test_the_map_file_is_validated_once_and_read_again_only_when_it_changes(
    tmp_path: Path, session: Session, knowledge: Knowledge
) -> None:
    from bot.incidents.statuspage.component_map import ComponentMapFile
    from bot.incidents.writes import sync_catalogue

    sync_catalogue(session, knowledge)
    path = tmp_path / "map.yml"
    path.write_text("components:\n  - name: Roaming\n    services: [roaming]\n", encoding="utf-8")
    maps = ComponentMapFile(path)
    first = maps.get(session)
    assert first.by_name == {"roaming": ("roaming",)} and maps.get(session) is first  # cached
    path.write_text("components:\n  - name: Roaming\n    services: [teleport]\n", encoding="utf-8")
    os.utime(path, (1, 1))  # a different modification time, as an edit makes
    with pytest.raises(ConfigurationError, match="unknown services"):
        maps.get(session)
    path.unlink()
    with pytest.raises(ConfigurationError, match="cannot read"):
        maps.get(session)
