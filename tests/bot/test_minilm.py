"""The NumPy all-MiniLM-L6-v2 encoder, run in Rasa's environment where it is used."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT

RASA_PYTHON = Path(os.environ.get("RASA_BIN", PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa")).parent / "python"

SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from bot.minilm import load
m = load()
def sim(a, b):
    return float(m.embed(a) @ m.embed(b))
e = m.embed("I can't top up my phone")
print(json.dumps({
    "dim": int(e.shape[0]),
    "norm": float((e ** 2).sum() ** 0.5),
    "paraphrase": sim("when will the internet be back", "how long until service is restored"),
    "unrelated": sim("when will the internet be back", "give me a recipe for scones"),
    "empty_ok": float(m.embed("").sum()) == float(m.embed("").sum()),
    "tokens": m.tokenizer.encode("Kia ora! Can't top-up \\x00 mōrena"),
    "long": len(m.tokenizer.encode("word " * 1000)),
}))
"""


@pytest.fixture(scope="module")
def result() -> dict[str, object]:
    if not RASA_PYTHON.is_file():
        pytest.fail(f"Rasa's environment is missing ({RASA_PYTHON}); run `make setup`")
    run = subprocess.run(
        [str(RASA_PYTHON), "-c", SCRIPT, str(PROJECT_ROOT)], capture_output=True, text=True, check=False, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_embeddings_are_384_dimensional_unit_vectors(result: dict[str, object]) -> None:
    assert result["dim"] == 384
    assert abs(float(result["norm"]) - 1.0) < 1e-4  # type: ignore[arg-type]


def test_paraphrases_are_closer_than_unrelated_sentences(result: dict[str, object]) -> None:
    assert float(result["paraphrase"]) > 0.4 > 0.2 > float(result["unrelated"])  # type: ignore[arg-type]


def test_tokenizer_lowercases_strips_accents_and_control_characters(result: dict[str, object]) -> None:
    # [CLS] kia ora ! can ' t top - up mo ##rena [SEP] in the uncased BERT vocabulary
    tokens = result["tokens"]
    assert isinstance(tokens, list)
    assert tokens[0] == 101 and tokens[-1] == 102
    assert 0 not in tokens and 100 not in tokens  # no padding, no unknown-token ids


def test_long_input_is_truncated_and_empty_input_works(result: dict[str, object]) -> None:
    assert result["long"] == 128
    assert result["empty_ok"] is True
