"""Run `rasa data validate` and fail on any warning that is not explained.

Rasa warns that a response "is not used in any story or rule" when a custom action sends
it; that warning is accepted only for responses the code in bot/ or actions/ names, the
clarification button titles (utter_topic_*), the questions forms ask (utter_ask_<slot>), and
utter_default (Rasa's own fallback).
Intents named EXTERNAL_* are triggered through the HTTP API (Rasa's convention for external
events), so their missing training examples are expected too.
Every other warning fails the check, as `--fail-on-warnings` would.

    python scripts/check_validate.py .venv-rasa/bin/rasa
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
UNUSED = re.compile(r"The utterance '(utter_[a-z_]+)' is not used in any story or rule")
WARNING = re.compile(r"UserWarning: (.*)")
EXTERNAL = re.compile(r"The intent 'EXTERNAL_[a-z_]+' is listed in the domain file, but is not found in the NLU")
IGNORED = ("pkg_resources", "declare_namespace", "Slot auto-fill has been removed")


def sent_by_code() -> set[str]:
    source = "\n".join(
        p.read_text(encoding="utf-8") for d in ("bot", "actions", "rasa_plugins") for p in (ROOT / d).rglob("*.py")
    )
    import yaml

    from bot.conversation.reply import PATTERNED_RESPONSES

    domain = yaml.safe_load((ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))
    # A form asks for each required slot with utter_ask_<slot>, which no story names.
    asks = {f"utter_ask_{slot}" for form in (domain.get("forms") or {}).values() for slot in form["required_slots"]}
    return set(re.findall(r'"(utter_[a-z_]+)', source)) | PATTERNED_RESPONSES | asks


def main() -> int:
    rasa = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / ".venv-rasa" / "bin" / "rasa")
    cmd = [rasa, "data", "validate", "--config", "config.yml", "--domain", "bot/domain.yml", "--data", "data"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    output = run.stdout + run.stderr
    allowed = sent_by_code()
    problems = []
    for warning in WARNING.findall(output):
        if any(i in warning for i in IGNORED) or EXTERNAL.search(warning):
            continue
        unused = UNUSED.search(warning)
        if unused and (
            unused.group(1) in allowed
            or unused.group(1).startswith("utter_topic_")
            or unused.group(1) == "utter_default"
        ):
            continue
        problems.append(warning)
    if run.returncode != 0 or problems:
        print(output[-4000:] if run.returncode != 0 else "")
        for problem in problems:
            print(f"validate: {problem}", file=sys.stderr)
        print("rasa data validate: FAILED", file=sys.stderr)
        return 1
    print("rasa data validate: passed (responses sent only by custom actions are accounted for)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
