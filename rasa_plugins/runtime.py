"""The Rasa server's launcher: `python -m rasa_plugins.runtime run ...` starts `rasa run` with
our patches installed. Runs only in `.venv-rasa`, Rasa's own environment.

- The HTTP API token is taken from the environment (RASA_AUTH_TOKEN), so that it never
  appears on a command line (`ps`). The same secret signs the JWTs that our clients send in an
  Authorization header, so no client puts it in a URL either (URLs end up in access logs).
- Every conversation id in an HTTP API path is checked before Rasa's tracker store sees it.
- Every bearer token is checked before sanic-jwt sees it (`refuse_bad_tokens`).
- A push (trigger_intent) finishes and is saved even if its caller hangs up.
- The tracker store's failures reach the channel (rasa_plugins.tracker_store), and the
  per-message work is made cheaper (rasa_plugins.speedups).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from sanic import response as sanic_response
from sanic.request import Request

from common.private import install_private_logging, redact_event
from common.text import conversation_id_problem
from rasa_plugins.inputs import SERVING
from rasa_plugins.speedups import (
    install_action_result_validator,
    install_incremental_states,
    install_nlu_off_loop,
    nlu_threads,
)
from rasa_plugins.tracker_store import install_honest_tracker_store

logger = logging.getLogger(__name__)

TOKEN_VARIABLE = "RASA_AUTH_TOKEN"


def rasa_argv(argv: list[str], environ: dict[str, str]) -> list[str]:
    """Rasa's own command line, with the token from `environ` added (and never from `argv`)."""
    if any(arg in ("--auth-token", "--jwt-secret") for arg in argv):
        raise SystemExit("pass the token in the RASA_AUTH_TOKEN environment variable, not on the command line")
    token = environ.get(TOKEN_VARIABLE, "")
    if not token:
        raise SystemExit(f"{TOKEN_VARIABLE} is not set")
    # Rasa's argument parser is the only way in; this list lives only inside this process,
    # /proc/<pid>/cmdline keeps the command we were started with.
    return ["rasa", *argv, "--auth-token", token, "--jwt-secret", token, "--jwt-method", "HS256"]


async def refuse_bad_conversation_ids(request: Request) -> Any:
    """Rasa's HTTP API takes a conversation id in the path (`/conversations/<id>/...`) and
    hands it to the tracker store unchecked; such an id gets 400 here instead."""
    conversation_id = (request.match_info or {}).get("conversation_id")
    if conversation_id is None:
        return None
    problem = conversation_id_problem(conversation_id)
    if problem:
        return sanic_response.json(
            {"status": "failure", "reason": "BadRequest", "message": f"conversation id {problem}"}, 400
        )
    return None


# Clock skew allowed on a token's expiry; sanic-jwt's default allows 180 s.
TOKEN_LEEWAY = 30


def refuse_bad_tokens(secret: str) -> Any:
    """A request middleware: a bearer token must be an HS256 JWT signed with `secret`, with an
    expiry that has not passed (30 s of clock skew at most), or the request gets 401.

    sanic-jwt (Rasa 3.6's) lets PyJWT's error for `alg: none` or a foreign algorithm escape as
    a 500 with a traceback, allows 180 s past expiry, and accepts a token with no `exp`. It
    still checks what passes here (the role, for one).
    """
    import jwt

    async def check(request: Request) -> Any:
        header = request.headers.get("authorization")
        if header is None:
            return None  # Rasa's own rules: the token in the query string, or 401
        scheme, _, token = header.partition(" ")
        try:
            if scheme.lower() != "bearer":
                raise jwt.InvalidTokenError("not a bearer token")
            jwt.decode(token.strip(), secret, algorithms=["HS256"], leeway=TOKEN_LEEWAY, options={"require": ["exp"]})
        except jwt.InvalidTokenError as exc:
            return sanic_response.json(
                {"status": "failure", "reason": "NotAuthenticated", "message": f"bad token: {exc.__class__.__name__}"},
                401,
            )
        return None

    return check


def install_api_guard(secret: str | None = None) -> None:
    """Wrap `rasa.core.run.configure_app` so that the app it builds checks conversation ids.

    Rasa 3.6 offers no hook for middleware on its HTTP API (channel blueprints' middleware
    applies to their own routes only), and `serve_application` looks `configure_app` up in
    its module at call time, so wrapping the module attribute is enough.
    """
    import rasa.core.run

    original = rasa.core.run.configure_app
    if getattr(original, "_outage_guarded", False):
        return

    def configure_app(*args: Any, **kwargs: Any) -> Any:
        app = original(*args, **kwargs)
        app.register_middleware(refuse_bad_conversation_ids, "request")
        if secret:
            app.register_middleware(refuse_bad_tokens(secret), "request")
        SERVING["app"] = app  # for tell_to_try_again, which runs where no request is at hand
        return app

    configure_app._outage_guarded = True  # type: ignore[attr-defined]
    rasa.core.run.configure_app = configure_app


def install_finished_pushes() -> None:
    """A message we start (trigger_intent: the notifier's pushes) runs to the end, its tracker
    saved, even if the caller hangs up part-way.

    Sanic cancels a request's handler when its client disconnects. A notifier killed while Rasa
    handled its push left the turn cancelled after the channel had sent the message but before
    the tracker, with its delivered-notices slot, was saved: the retry sent it again (found by
    issue 21's tell-and-close test). Shielded, the turn finishes; the caller's lock is released
    early, which the notices' own shown mark (bot.people.closing.claim_shown) covers.
    """
    import asyncio

    from rasa.core.agent import Agent

    original = Agent.trigger_intent
    if getattr(original, "_outage_shielded", False):
        return

    async def trigger_intent(self: Agent, *args: Any, **kwargs: Any) -> None:
        await asyncio.shield(original(self, *args, **kwargs))

    trigger_intent._outage_shielded = True  # type: ignore[attr-defined]
    Agent.trigger_intent = trigger_intent  # type: ignore[method-assign]


# What a conversation paused for a person still answers: a customer asking to be told when it
# is fixed, or how long the wait is, is answered and recorded rather than silently dropped,
# and the notices they asked for (external intents the notifier triggers) still reach them.
ANSWERED_WHILE_PAUSED = frozenset({"notify_me", "queue_wait"})
EXTERNAL_PREFIX = "EXTERNAL_"


def answered_while_paused(intent: object) -> bool:
    return isinstance(intent, str) and (intent in ANSWERED_WHILE_PAUSED or intent.startswith(EXTERNAL_PREFIX))


def install_asks_while_paused() -> None:
    """Rasa 3.6 predicts nothing in a paused conversation except for /restart: a subscription
    asked for while a person has the conversation was lost (issue 24), and a pushed notice was
    swallowed. These few intents are handled as usual; everything else still waits for the
    person."""
    from rasa.core.processor import MessageProcessor

    original = MessageProcessor._should_handle_message
    if getattr(original, "_outage_paused_asks", False):
        return

    def should_handle(tracker: Any) -> bool:
        if original(tracker):
            return True
        latest = tracker.latest_message
        return latest is not None and answered_while_paused(latest.intent.get("name"))

    should_handle._outage_paused_asks = True  # type: ignore[attr-defined]
    MessageProcessor._should_handle_message = staticmethod(should_handle)  # type: ignore[method-assign]


def install_private_logs() -> None:
    """No customer's words, phone number or e-mail address in Rasa's logs.

    Rasa's structured events carry the message (`rest.message.received.timeout`, for one,
    logs it verbatim) and pass through `rasa.utils.log_utils._anonymizer`, a hook for Rasa
    Pro's anonymisation that does nothing here; `configure_structlog` looks it up when Rasa
    starts, so replacing it redacts those fields. The record factory masks contact details in
    everything else Rasa, Sanic and the libraries log.
    """
    import rasa.utils.log_utils

    rasa.utils.log_utils._anonymizer = redact_event
    install_private_logging()


def main() -> None:
    install_private_logs()
    sys.argv = rasa_argv(sys.argv[1:], dict(os.environ))
    install_api_guard(os.environ[TOKEN_VARIABLE])
    install_honest_tracker_store()
    install_finished_pushes()
    install_asks_while_paused()
    threads = nlu_threads(dict(os.environ))
    if threads:
        install_nlu_off_loop(threads)
    install_action_result_validator()
    install_incremental_states()
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    # Run the importable module, not this `__main__` copy of it, so that every module shares
    # one set of installed patches.
    from rasa_plugins.runtime import main as run_main

    run_main()
