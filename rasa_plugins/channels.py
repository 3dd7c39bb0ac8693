"""Social channels for Rasa (loaded by the Rasa process, like rasa_plugins/components.py).

Rasa's own Facebook, Telegram and Twilio connectors, with two additions:
- every webhook's signature is checked before anything else runs (Rasa 3.6 checks only
  Facebook's, answers a bad one with 200 "not validated", and checks neither Telegram's
  secret token nor Twilio's request signature), and a bad one gets 403;
- `api_base` (optional) points the connector's outgoing API calls somewhere else: a
  regional endpoint, or a fake one on loopback in the tests.
Credentials come from the environment: `make run` writes them into var/credentials.yml
(bot/ops/servers.py:write_credentials), which Rasa reads at start.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from typing import Any

from aiogram import Bot
from aiogram.bot.api import TelegramAPIServer
from fbmessenger import MessengerClient
from rasa.core.channels.facebook import FacebookInput
from rasa.core.channels.telegram import TelegramInput, TelegramOutput
from rasa.core.channels.twilio import TwilioInput, TwilioOutput
from sanic import response
from sanic.request import Request
from twilio.request_validator import RequestValidator

from common.text import conversation_id_problem
from rasa_plugins.inputs import guard_messages

logger = logging.getLogger(__name__)


# What a connector raises when a correctly signed body is not in the shape it expects
# (Rasa 3.6's Facebook and Telegram connectors index into it unchecked, which was a 500).
UNREADABLE = (KeyError, TypeError, AttributeError, IndexError, ValueError)


def _guarded(
    bp: Any,
    signed: Callable[[Request], bool],
    refusal: str,
    sender: Callable[[Request], object] | None = None,
    closed: frozenset[str] = frozenset(),
) -> Any:
    """Refuse, with 403, every POST to the blueprint whose signature `signed` rejects, and any
    request to a `closed` path; with 400, one whose `sender` (where the channel names it
    outside the body's JSON) is no valid conversation id, and one whose body the connector
    cannot read. Every message also passes `guard_messages`."""
    channel = refusal.split(":", 1)[0]

    @bp.middleware("request")  # type: ignore[misc]
    async def check(request: Request) -> Any:
        if request.path.rstrip("/").rsplit("/", 1)[-1] in closed:
            logger.warning("webhook refused: %s %s is closed", request.method, request.path)
            return response.json({"detail": f"{channel}: this path is closed"}, status=403)
        if request.method != "POST":
            return None
        if not signed(request):
            logger.warning("webhook refused: %s", refusal)
            return response.json({"detail": refusal}, status=403)
        problem = conversation_id_problem(sender(request)) if sender is not None else None
        if problem:
            logger.warning("webhook refused: sender %s", problem)
            return response.json({"detail": f"the sender {problem}"}, status=400)
        return None

    @bp.exception(*UNREADABLE)  # type: ignore[misc]
    async def unreadable(request: Request, exception: Exception) -> Any:
        logger.warning(
            "webhook refused: %s could not read the body (%s: %s)", channel, type(exception).__name__, exception
        )
        return response.json({"detail": f"{channel}: the body is not in the form this channel sends"}, status=400)

    return bp


class SignedTelegramInput(TelegramInput):  # type: ignore[misc]
    """Telegram, with the `X-Telegram-Bot-Api-Secret-Token` that setWebhook registered."""

    @classmethod
    def name(cls) -> str:
        return "telegram"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> SignedTelegramInput:
        credentials = credentials or {}
        channel = cls(
            credentials.get("access_token"),
            credentials.get("verify"),
            credentials.get("webhook_url"),
        )
        # Upstream defaults to debug_mode=True, which re-raises a failed turn as a 500 and makes
        # Telegram deliver it again later, after guard_messages has already told the customer
        # to send it again: they would get both.
        channel.debug_mode = False
        channel.secret_token = str(credentials.get("secret_token") or "")
        channel.api_base = credentials.get("api_base") or None
        if not channel.secret_token:
            raise ValueError("telegram: set secret_token (TELEGRAM_SECRET_TOKEN); unsigned webhooks are refused")
        return channel

    def _new_output(self) -> TelegramOutput:
        channel = TelegramOutput.__new__(_LocalTelegramOutput)
        server = TelegramAPIServer.from_base(self.api_base) if self.api_base else None
        Bot.__init__(channel, self.access_token, **({"server": server} if server else {}))
        return channel

    def get_output_channel(self) -> TelegramOutput:
        """At start-up (no loop running yet): a channel, and the webhook registered with our
        secret token. Later, inside the server's loop, when Rasa pushes a message we start
        (trigger_intent, execute with output_channel=latest): one channel kept for that loop.
        Upstream ran asyncio.run here every time, which fails inside the running loop: every
        push to a Telegram customer answered HTTP 500 (found by issue 21's tell-and-close test)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            kept = getattr(self, "_runtime_output", None)
            if kept is None or kept[0] is not loop:
                kept = self._runtime_output = (loop, self._new_output())
            return kept[1]
        channel = self._new_output()
        # aiogram 2 predates setWebhook's secret_token, so the call is made by hand. It runs in
        # a loop of its own before the server starts; its HTTP session is closed afterwards so
        # that the server's loop opens a fresh one (a session outlives its loop otherwise).
        payload = {"url": self.webhook_url, "secret_token": self.secret_token}

        async def register() -> None:
            try:
                await channel.request("setWebhook", payload)
            finally:
                await channel.session.close()

        asyncio.run(register())
        return channel

    def blueprint(self, on_new_message: Any) -> Any:
        def signed(request: Request) -> bool:
            sent = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
            return hmac.compare_digest(sent.encode(), self.secret_token.encode())

        # Rasa's /set_webhook would register the webhook again without our secret token, after
        # which every real update is refused: anyone could switch the channel off. We register
        # at start-up (get_output_channel), so the path is closed.
        return _guarded(
            super().blueprint(guard_messages(on_new_message)),
            signed,
            "telegram: wrong or missing secret token",
            telegram_chat,
            closed=frozenset({"set_webhook"}),
        )


def telegram_chat(request: Request) -> object:
    """The conversation id of a Telegram update: its chat's id, which Telegram always sends as
    an integer; None for anything else (Rasa would reply to whatever it found there)."""
    body = request.json if isinstance(request.json, dict) else {}
    query = body.get("callback_query")
    # The order Rasa's TelegramInput reads them in: a button, an edit, a message.
    if query is not None:
        message = query.get("message") if isinstance(query, dict) else None
    elif body.get("edited_message") is not None:
        message = body["edited_message"]
    else:
        message = body.get("message")
    chat = message.get("chat") if isinstance(message, dict) else None
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    return str(chat_id) if isinstance(chat_id, int) and not isinstance(chat_id, bool) else None


class _LocalTelegramOutput(TelegramOutput):  # type: ignore[misc]
    """TelegramOutput built by SignedTelegramInput (its own __init__ cannot take a server)."""


class SignedFacebookInput(FacebookInput):  # type: ignore[misc]
    """Facebook Messenger; a bad `X-Hub-Signature` gets 403 rather than Rasa's 200."""

    @classmethod
    def name(cls) -> str:
        return "facebook"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> SignedFacebookInput:
        credentials = credentials or {}
        channel = cls(credentials.get("verify"), credentials.get("secret"), credentials.get("page-access-token"))
        api_base = credentials.get("api_base")
        if api_base:
            _point_messenger_at(str(api_base))
        return channel

    def blueprint(self, on_new_message: Any) -> Any:
        def signed(request: Request) -> bool:
            signature = request.headers.get("X-Hub-Signature") or ""
            return bool(self.validate_hub_signature(self.fb_secret, request.body, signature))

        return _guarded(
            super().blueprint(guard_messages(on_new_message)), signed, "facebook: wrong or missing X-Hub-Signature"
        )


def _point_messenger_at(base: str) -> None:
    """fbmessenger builds its Graph URL in __init__; set it after, for every client."""
    original = MessengerClient.__init__
    if getattr(original, "_outage_base", None) == base:
        return

    def init(self: MessengerClient, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.graph_url = base.rstrip("/")

    init._outage_base = base  # type: ignore[attr-defined]
    MessengerClient.__init__ = init  # type: ignore[method-assign]


class SignedTwilioInput(TwilioInput):  # type: ignore[misc]
    """Twilio SMS (and WhatsApp through Twilio), with `X-Twilio-Signature` checked against the
    public webhook URL that Twilio calls (`webhook_url`; proxies change the URL we see)."""

    @classmethod
    def name(cls) -> str:
        return "twilio"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> SignedTwilioInput:
        credentials = credentials or {}
        channel = cls(credentials.get("account_sid"), credentials.get("auth_token"), credentials.get("twilio_number"))
        channel.debug_mode = False  # as for Telegram: a failed turn is answered, not re-raised as a 500
        channel.webhook_url = str(credentials.get("webhook_url") or "")
        channel.api_base = credentials.get("api_base") or None
        if not channel.webhook_url:
            raise ValueError("twilio: set webhook_url (TWILIO_WEBHOOK_URL), the URL Twilio posts to")
        return channel

    def get_output_channel(self) -> TwilioOutput:
        channel = TwilioOutput(self.account_sid, self.auth_token, self.twilio_number)
        if self.api_base:
            channel.api.base_url = str(self.api_base).rstrip("/")
        return channel

    def blueprint(self, on_new_message: Any) -> Any:
        validator = RequestValidator(self.auth_token or "")

        def signed(request: Request) -> bool:
            params = {k: v[0] if isinstance(v, list) else v for k, v in (request.form or {}).items()}
            signature = request.headers.get("X-Twilio-Signature", "")
            return bool(signature) and bool(validator.validate(self.webhook_url, params, signature))

        def sender(request: Request) -> object:
            return (request.form or {}).get("From")

        return _guarded(
            super().blueprint(guard_messages(on_new_message)),
            signed,
            "twilio: wrong or missing X-Twilio-Signature",
            sender,
        )
