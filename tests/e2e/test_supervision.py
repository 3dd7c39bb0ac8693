"""The launcher (`make run`'s bot.ops.run) as a whole: every port on loopback, no secret on a
command line or in a log, and any one server killed with SIGKILL comes back while the
others keep answering and no conversation loses a message."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.core.devsecrets import action_token
from bot.core.settings import PROJECT_ROOT, Settings, load_settings
from bot.rasa_api import RasaAuth
from tests.support.servers import isolated_env

pytestmark = pytest.mark.e2e

SERVERS = ("actions", "web", "notifier", "rasa")
TRY_AGAIN = "Please send it again in a minute"


@dataclass
class Launched:
    proc: subprocess.Popen[bytes]
    settings: Settings
    var: Path
    log: Path

    @property
    def token(self) -> str:
        return self.settings.rasa_auth_token

    def pid(self, name: str) -> int:
        return int((self.var / "run" / f"{name}.pid").read_text())

    def rasa(self, path: str) -> str:
        return f"http://127.0.0.1:{self.settings.rasa_port}{path}"

    def web(self, path: str) -> str:
        return f"http://127.0.0.1:{self.settings.web_port}{path}"

    def say(self, sender: str, text: str) -> httpx.Response:
        return httpx.post(self.rasa("/webhooks/rest/webhook"), json={"sender": sender, "message": text}, timeout=60)

    def ready(self) -> bool:
        try:
            rasa = httpx.get(self.rasa("/status"), auth=RasaAuth(self.token), timeout=5).status_code == 200
            web = httpx.get(self.web("/health"), timeout=5).status_code == 200
            actions = httpx.get(f"http://127.0.0.1:{self.settings.action_port}/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False
        return rasa and web and actions and all(alive(self.pid(n)) for n in SERVERS)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


def wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")


def texts(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return "\n".join(r.get("text", "") for r in response.json())


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launched]:
    var = tmp_path_factory.mktemp("launcher")
    env = isolated_env(var)
    log = var / "launcher.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.ops.run"], cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    harness = Launched(proc, load_settings(env), var, log)
    try:
        wait(lambda: proc.poll() is None and (var / "run" / "rasa.pid").is_file() and harness.ready(), 300, "start-up")
        yield harness
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        sys.stderr.write(f"\nlauncher log: {log}\n")


def listening_ports(pids: set[int]) -> dict[int, set[str]]:
    """pid -> the addresses it listens on (TCP), read from `ss`."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found: dict[int, set[str]] = {}
    for line in out.splitlines():
        fields = line.split()
        for pid in pids:
            if f"pid={pid}," in line:
                found.setdefault(pid, set()).add(fields[3])
    return found


def test_every_port_is_known_and_on_loopback(launched: Launched) -> None:
    s = launched.settings
    pids = {name: launched.pid(name) for name in SERVERS} | {"launcher": launched.proc.pid}
    ports = listening_ports(set(pids.values()))
    by_name = {name: ports.get(pid, set()) for name, pid in pids.items()}
    # A new listening port fails here until it is added, with its authentication, to this list.
    assert by_name == {
        "rasa": {f"127.0.0.1:{s.rasa_port}"},
        "actions": {f"127.0.0.1:{s.action_port}"},
        "web": {f"127.0.0.1:{s.web_port}"},
        "notifier": set(),
        "launcher": set(),
    }


def test_no_secret_is_on_a_command_line(launched: Launched) -> None:
    secrets = [launched.token, action_token(launched.settings)]
    for pid in [launched.proc.pid, *(launched.pid(n) for n in SERVERS)]:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        assert not any(secret in cmdline for secret in secrets), cmdline


@pytest.mark.parametrize("name", SERVERS)
def test_a_killed_server_comes_back_and_nothing_is_lost(launched: Launched, name: str) -> None:
    me, other = f"sup-{name}-{uuid.uuid4().hex[:6]}", f"sup-other-{uuid.uuid4().hex[:6]}"
    assert "Prepaid top-up: not working" in texts(launched.say(me, "I can't top up my phone"))
    before = launched.pid(name)
    os.kill(before, signal.SIGKILL)
    killed_at = time.monotonic()

    # While it is down, whatever did not die keeps answering.
    if name == "rasa":
        health = httpx.get(launched.web("/health"), timeout=10)
        assert health.status_code == 200
        page = httpx.get(launched.web("/"), timeout=10)
        sent = httpx.post(launched.web("/chat/send"), json={"message": "hi"}, cookies=page.cookies, timeout=30)
        assert sent.status_code == 503 and "try again in a minute" in sent.json()["detail"]
    elif name == "actions":
        reply = texts(launched.say(other, "is roaming working?"))
        assert TRY_AGAIN in reply or "Roaming" in reply, reply  # honest, or already back
    else:
        assert "Roaming" in texts(launched.say(other, "is roaming working?"))

    wait(lambda: launched.pid(name) != before and launched.ready(), 240, f"{name} restarting")
    print(f"{name}: killed, then serving again after {time.monotonic() - killed_at:.1f} s")
    assert launched.proc.poll() is None
    # The conversation goes on where it was: the slot from the first turn is still set.
    assert "There's no ETA for Prepaid top-up yet" in texts(launched.say(me, "when will it be fixed?"))
    events = httpx.get(launched.rasa(f"/conversations/{me}/tracker"), auth=RasaAuth(launched.token), timeout=30)
    said = [e.get("text") for e in events.json()["events"] if e.get("event") == "user"]
    assert said == ["I can't top up my phone", "when will it be fixed?"]


PRIVATE_WORDS = ("Wiremu Tautahi", "Kowhai Street")
PHONE, EMAIL = "09 123 4567", "wiremu.tautahi@example.co.nz"


def test_no_customer_text_phone_or_email_is_in_any_log(launched: Launched) -> None:
    """Customers' words go through the web chat and the REST channel, some of them abandoned
    by the client mid-turn (Rasa logs a timed-out REST message with its text); nothing of them
    reaches a log, whichever process wrote it."""
    said = f"{PRIVATE_WORDS[0]} of 12 {PRIVATE_WORDS[1]} here, my landline {PHONE} can't divert, mail {EMAIL}"
    page = httpx.get(launched.web("/"), timeout=10)
    chat = httpx.post(launched.web("/chat/send"), json={"message": said}, cookies=page.cookies, timeout=60)
    assert chat.status_code == 200, chat.text
    # Connected and sent for sure, then abandoned while Rasa works (a busy machine may take
    # longer than a short overall timeout just to connect, and then Rasa never sees the turn).
    abandon = httpx.Timeout(10, read=0.005)
    for i in range(3):
        with contextlib.suppress(httpx.TimeoutException):
            httpx.post(
                launched.rasa("/webhooks/rest/webhook"),
                json={"sender": f"pii-{uuid.uuid4().hex[:8]}", "message": f"{said} ({i})"},
                timeout=abandon,
            )
    assert texts(launched.say(f"pii-{uuid.uuid4().hex[:8]}", said))
    deadline = time.monotonic() + 30  # the abandoned turns finish and log
    while "rest.message.received.timeout" not in launched.log.read_text(errors="replace"):
        assert time.monotonic() < deadline, "Rasa never logged an abandoned turn"
        time.sleep(0.5)
    time.sleep(1)  # and whatever else those turns log
    logged = launched.log.read_text(errors="replace")
    for private in (*PRIVATE_WORDS, PHONE, PHONE.replace(" ", ""), EMAIL, "wiremu"):
        assert private.lower() not in logged.lower(), private


def test_the_files_under_var_are_private(launched: Launched) -> None:
    """Databases (with their -wal and -shm files), logs, secrets and pid files: 0600."""
    files = [p for p in launched.var.rglob("*") if p.is_file()]
    assert any(p.name == "outage.db" for p in files) and any(p.name == "tracker.db" for p in files)
    assert any(p.name.endswith("-wal") for p in files)
    loose = {str(p.relative_to(launched.var)): oct(p.stat().st_mode & 0o777) for p in files if p.stat().st_mode & 0o077}
    assert loose == {}


def test_no_secret_is_in_any_log(launched: Launched) -> None:
    """Run last in this module: by now every server has logged its start and a restart."""
    page = httpx.get(launched.web("/"), timeout=10)
    assert httpx.get(launched.web("/chat/history"), cookies=page.cookies, timeout=30).status_code == 200
    logged = launched.log.read_text(errors="replace")
    assert "started again" in logged  # the supervisor's own record of the restarts
    for secret in (launched.token, action_token(launched.settings)):
        assert secret not in logged
    assert "token=" not in logged
