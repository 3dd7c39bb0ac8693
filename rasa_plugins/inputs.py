"""What comes in through Rasa's channels: the checks every channel's messages pass
(`guard_messages`) and Rasa's REST channel with its input checked (`SafeRestInput`, named in
bot/credentials.yml)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import response as sanic_response
from sanic.exceptions import InvalidUsage, PayloadTooLarge
from sanic.request import Request

from common.text import conversation_id_problem, printable

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_MESSAGE_CHARS = 10_000
MAX_METADATA_BYTES = 8 * 1024
CHANNEL_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
# The Sanic app this process serves, once rasa_plugins.runtime's API guard has built it.
SERVING: dict[str, Any] = {}


def message_problem(message: UserMessage) -> str | None:
    """Why Rasa should not handle `message`, or None."""
    problem = conversation_id_problem(message.sender_id)
    if problem:
        return f"conversation id {problem}"
    if not isinstance(message.input_channel, str) or not CHANNEL_NAME.fullmatch(message.input_channel):
        return "input_channel must be a short lower-case name such as 'webchat'"
    if message.metadata is not None:
        try:
            size = len(json.dumps(message.metadata))
        except (TypeError, ValueError):
            return "metadata must be plain JSON"
        if size > MAX_METADATA_BYTES:
            return f"metadata is larger than {MAX_METADATA_BYTES} bytes"
    return None


def guard_messages(on_new_message: OnNewMessage) -> OnNewMessage:
    """Wrap a channel's handler: drop messages whose id, channel or metadata could break the
    tracker store, and clean the text of characters no customer types (NUL, lone surrogates).

    Channels whose input checks answer the sender with a 4xx (REST, Twilio) refuse such a
    message before this; here is the last line for every channel, and what it drops cannot
    be answered anyway (there is no valid conversation to answer in).
    """

    async def checked(message: UserMessage) -> Any:
        problem = message_problem(message)
        if problem:
            logger.warning(
                "message dropped on channel %r (conversation %r): %s",
                message.input_channel,
                str(message.sender_id)[:40],
                problem,
            )
            return None
        if isinstance(message.text, str):
            message.text = printable(message.text)
        try:
            return await on_new_message(message)
        except Exception:
            # Rasa sends a turn's replies before it saves the turn; if the save failed, the
            # customer must not see an answer to a message the conversation does not hold.
            # Replies collected for an HTTP response (REST) are withdrawn, so the channel
            # answers "try again" instead; what a social channel already sent stays sent.
            if isinstance(message.output_channel, CollectingOutputChannel):
                message.output_channel.messages.clear()
            else:
                await tell_to_try_again(message)
            raise

    return checked


async def tell_to_try_again(message: UserMessage) -> None:
    """On a social channel, say that the message was not handled. Rasa's Telegram and Twilio
    connectors log a failed turn and answer their webhook with success, so without this
    the customer would hear nothing and the provider would not send the message again."""
    app = SERVING.get("app")
    agent = getattr(getattr(app, "ctx", None), "agent", None)
    variants = agent.domain.responses.get("utter_internal_error") if agent is not None else None
    if not variants or message.output_channel is None:
        return
    for attempt in (1, 2):  # a pooled keep-alive connection the provider has closed fails once
        try:
            await message.output_channel.send_text_message(message.sender_id, variants[0].get("text", ""))
            return
        except Exception:  # the provider may be failing too; the original error is what matters
            if attempt == 2:
                logger.exception("could not tell conversation %r to try again", str(message.sender_id)[:40])


class SafeRestInput(RestInput):  # type: ignore[misc]
    """Rasa's REST channel with input checks: bad bodies get a 4xx with a reason, never a 500.

    Registered under the same name, so the URL stays /webhooks/rest/webhook.
    """

    @classmethod
    def name(cls) -> str:
        return "rest"

    @staticmethod
    def _payload(request: Request) -> dict[str, Any]:
        cached = request.ctx.__dict__.get("outage_payload")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        body = request.body or b""
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"request body is larger than {MAX_BODY_BYTES} bytes")
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise InvalidUsage("request body must be UTF-8 JSON") from None
        if not isinstance(data, dict):
            raise InvalidUsage('request body must be a JSON object like {"sender": "...", "message": "..."}')
        request.ctx.outage_payload = data
        return data

    async def _extract_sender(self, request: Request) -> str:
        sender = self._payload(request).get("sender")
        problem = conversation_id_problem(sender)
        if problem:
            raise InvalidUsage(f"'sender' {problem}")
        return str(sender)

    def _extract_message(self, request: Request) -> str:
        message = self._payload(request).get("message", "")
        if message is None:
            message = ""
        if not isinstance(message, str):
            raise InvalidUsage("'message' must be a string")
        if len(message) > MAX_MESSAGE_CHARS:
            raise PayloadTooLarge(f"'message' is longer than {MAX_MESSAGE_CHARS} characters")
        return message  # cleaned once, by guard_messages, for every channel

    def _extract_input_channel(self, request: Request) -> str:
        channel = self._payload(request).get("input_channel") or self.name()
        if not isinstance(channel, str) or not CHANNEL_NAME.fullmatch(channel):
            raise InvalidUsage("'input_channel' must be a short lower-case name such as 'webchat'")
        return channel

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        metadata = self._payload(request).get("metadata")
        if metadata is None:
            return None
        if not isinstance(metadata, dict):
            raise InvalidUsage("'metadata' must be a JSON object")
        if len(json.dumps(metadata)) > MAX_METADATA_BYTES:
            raise PayloadTooLarge(f"'metadata' is larger than {MAX_METADATA_BYTES} bytes")
        return metadata

    def blueprint(self, on_new_message: OnNewMessage) -> Any:
        """Rasa's blueprint, plus: a turn that produced no reply at all gets one.

        When a custom action fails (the action server is restarting, say) or the tracker
        store fails, Rasa logs it and answers with nothing; the customer would not know
        whether anything happened. They are told to try again in a minute, or, in a
        conversation paused for staff, that a person has it.
        """
        bp = super().blueprint(guard_messages(on_new_message))

        @bp.middleware("response")  # type: ignore[misc]
        async def fill_silence(request: Request, response: Any) -> Any:
            if request.method != "POST" or not request.path.endswith("/webhook") or response.status != 200:
                return None
            if response.body.strip() != b"[]" or request.args.get("stream"):
                return None
            sender = str(self._payload(request).get("sender") or "")
            agent = request.app.ctx.agent
            paused = False
            try:
                tracker = await agent.tracker_store.retrieve(sender)
                paused = bool(tracker and tracker.is_paused())
            except Exception:  # the tracker store itself may be what failed
                logger.exception("could not read the tracker of a silent turn")
            name = "utter_paused_for_staff" if paused else "utter_internal_error"
            variants = agent.domain.responses.get(name) or [{"text": ""}]
            if not paused:
                logger.warning("a turn produced no reply; told the customer to try again")
            return sanic_response.json([{"recipient_id": sender, "text": variants[0].get("text", "")}])

        return bp
