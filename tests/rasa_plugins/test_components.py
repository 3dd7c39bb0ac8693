"""rasa_plugins.components, trained and loaded by Rasa itself in its own environment.

UrgencyClassifier: labels come from the examples' metadata, the model survives saving and
loading, and every parse carries an `urgency` beside an untouched intent. The intent
classifier's second look (MPNet) runs on unsure messages unless the NLU thread is busy.
ContactEntityExtractor finds phone numbers by common.contact's rule."""

from __future__ import annotations

from pathlib import Path

from tests.rasa_plugins.rasa_env import run_in_rasa

DATA = """
version: "3.1"
nlu:
- intent: call_diversion
  examples: |
    - how do i forward my calls
    - set up call diversion
    - send my landline calls to my mobile
    - divert calls to another number
    - how does call forwarding work
    - stop forwarding my calls
- intent: call_diversion
  metadata:
    urgency: time_critical
  examples: |
    - i'll be sacked if my calls aren't forwarded this morning
    - the buyer calls my landline today and the sale depends on it, forward it now
    - my shop loses every order if the calls don't reach my mobile today
- intent: connectivity
  examples: |
    - no signal on my phone
    - my internet keeps dropping
    - the landline has no dial tone
    - broadband is slow tonight
- intent: connectivity
  metadata:
    urgency: safety
  examples: |
    - mum's personal alarm can't call out and she lives alone
    - my phone won't call out and someone is trying to break in
    - dad's heart monitor reports over the landline and it's dead
"""

SCRIPT = """
import asyncio, sys
from pathlib import Path
from rasa.core.agent import Agent
from rasa.model_training import train_nlu
from rasa_plugins.components import decide_urgency

tmp = Path(sys.argv[1])
(tmp / "nlu.yml").write_text(DATA)
(tmp / "config.yml").write_text('''
recipe: default.v1
language: en
assistant_id: urgency-test
pipeline:
  - name: WhitespaceTokenizer
  - name: CountVectorsFeaturizer
  - name: rasa_plugins.components.SentenceEmbeddingFeaturizer
    alias: minilm
  - name: rasa_plugins.components.RobustLogisticRegressionClassifier
    featurizers: [minilm]
    C: 10
  - name: rasa_plugins.components.UrgencyClassifier
    featurizers: [minilm]
    C: 30
    safety_threshold: 0.7
    time_critical_threshold: 0.7
policies: []
''')
model = train_nlu(str(tmp / "config.yml"), str(tmp / "nlu.yml"), str(tmp / "models"))
agent = Agent.load(model)

def parse(text):
    return asyncio.run(agent.parse_message(text))

for text, urgency, intent in [
    ("i'll be sacked if my calls aren't forwarded this morning", "time_critical", "call_diversion"),
    ("mum's personal alarm can't call out and she lives alone", "safety", "connectivity"),
    ("how do i forward my calls", "normal", "call_diversion"),
]:
    result = parse(text)
    assert result["urgency"]["name"] == urgency, (text, result["urgency"])
    assert 0.0 <= result["urgency"]["confidence"] <= 1.0
    assert result["intent"]["name"] == intent, (text, result["intent"])  # the intent is left alone

for text in ["", "   ", "\\u2603\\u2603", "zzqx vvkw"]:  # no known word: normal, with no confidence
    assert parse(text)["urgency"] == {"name": "normal", "confidence": 0.0}, text

# A safety reading needs its own probability over its threshold; a likely-urgent message
# that is not clearly about safety is time-critical; ties go to the safer label.
assert decide_urgency({"normal": 0.2, "time_critical": 0.35, "safety": 0.45}, 0.7, 0.7) == ("time_critical", 0.8)
assert decide_urgency({"normal": 0.1, "time_critical": 0.1, "safety": 0.8}, 0.7, 0.7) == ("safety", 0.8)
assert decide_urgency({"normal": 0.5, "time_critical": 0.3, "safety": 0.2}, 0.7, 0.7) == ("normal", 0.5)

# A second look with MPNet at unsure messages (every message here: second_below above 1),
# skipped while more messages wait for the NLU thread than max_backlog; both survive saving.
from rasa_plugins import speedups
(tmp / "second.yml").write_text((tmp / "config.yml").read_text().replace(
    "    C: 10\\n", "    C: 10\\n    second_encoder: mpnet\\n    second_below: 1.01\\n    max_backlog: 2\\n", 1))
agent = Agent.load(train_nlu(str(tmp / "second.yml"), str(tmp / "nlu.yml"), str(tmp / "models2")))
looked = parse("how do i forward my calls")
assert looked["second_look"] is True and looked["intent"]["name"] == "call_diversion", looked
speedups._BACKLOG[0] = 3
busy = parse("how do i forward my calls")
assert busy["second_look"] is False and busy["intent"]["name"] == "call_diversion", busy
speedups._BACKLOG[0] = 0
print("ok")
"""


def test_urgency_is_learnt_from_metadata_and_the_second_look_runs_only_with_time_to_spare(tmp_path: Path) -> None:
    assert run_in_rasa(f"DATA = {DATA!r}\n" + SCRIPT, tmp_path).strip().endswith("ok")


EXTRACT = """
from rasa.shared.nlu.training_data.message import Message
from rasa_plugins.components import ContactEntityExtractor

texts = ("divert from (09) 123 4567 to 021 555 0199", "my ref is 12345678901234567890", "")
messages = [Message(data={"text": t}) for t in texts]
ContactEntityExtractor().process(messages)
for m in messages:
    print([(e["entity"], e["value"], e["start"], e["end"], e["extractor"]) for e in m.get("entities", [])])
"""


def test_phone_numbers_are_entities_by_the_one_contact_rule(tmp_path: Path) -> None:
    """Bracketed area codes count, as common.contact says; a 20-digit reference is no number."""
    lines = run_in_rasa(EXTRACT, tmp_path).strip().splitlines()
    assert lines == [
        "[('phone_number', '(09) 123 4567', 12, 25, 'ContactEntityExtractor'), "
        "('phone_number', '021 555 0199', 29, 41, 'ContactEntityExtractor')]",
        "[]",
        "[]",
    ]
