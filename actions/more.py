"""more: the rest of an answer that a short channel (SMS, WhatsApp, Messenger, Telegram) got in brief."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.conversation.fit import from_stored, render


class ActionMore(Action):
    def name(self) -> str:
        return "action_more"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        pending = from_stored(tracker.get_slot("more_replies"))
        if not pending:
            dispatcher.utter_message(response="utter_more_nothing")
            return []
        # The full wording (the domain's plain variation), which the short message left out.
        for reply in pending:
            text, buttons = render(domain.get("responses") or {}, reply)
            dispatcher.utter_message(text=text, buttons=buttons or None)
        return [SlotSet("more_replies", None)]
