"""The NumPy sentence encoders (MiniLM, MPNet), run in Rasa's environment where they are used."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT

RASA_PYTHON = Path(os.environ.get("RASA_BIN", PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa")).parent / "python"
REFERENCE = Path(__file__).with_name("encoder_reference.json")

SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from bot.encoders import load
reference = json.loads(open(sys.argv[2], encoding="utf-8").read())
out = {}
for name in ("minilm", "mpnet"):
    m = load(name)
    def sim(a, b):
        return float(m.embed(a) @ m.embed(b))
    e = m.embed("I can't top up my phone")
    batch = m.embed_many(reference["sentences"] + ["word " * 300, ""], batch_size=3)
    single = np.stack([m.embed(s) for s in reference["sentences"]])
    out[name] = {
        "dim": int(e.shape[0]),
        "norm": float((e ** 2).sum() ** 0.5),
        "paraphrase": sim("when will the internet be back", "how long until service is restored"),
        "unrelated": sim("when will the internet be back", "give me a recipe for scones"),
        "empty_finite": bool(np.isfinite(m.embed("")).all()),
        "tokens": m.tokenizer.encode("Kia ora! Can't top-up \\x00 mōrena"),
        "reference_ids": [m.tokenizer.encode(s) for s in reference["sentences"]],
        "long": len(m.tokenizer.encode("word " * 1000)),
        "max_diff_reference": float(np.abs(single - np.array(reference[name]["embeddings"])).max()),
        "max_diff_batch": float(np.abs(batch[: len(single)] - single).max()),
        "batch_shape": list(batch.shape),
    }
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def result() -> dict[str, dict[str, object]]:
    if not RASA_PYTHON.is_file():
        pytest.fail(f"Rasa's environment is missing ({RASA_PYTHON}); run `make setup`")
    run = subprocess.run(
        [str(RASA_PYTHON), "-c", SCRIPT, str(PROJECT_ROOT), str(REFERENCE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize(("name", "dim"), [("minilm", 384), ("mpnet", 768)])
def test_embeddings_are_unit_vectors_of_the_model_size(
    result: dict[str, dict[str, object]], name: str, dim: int
) -> None:
    assert result[name]["dim"] == dim
    assert abs(float(result[name]["norm"]) - 1.0) < 1e-4  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["minilm", "mpnet"])
def test_embeddings_match_hugging_face_transformers(result: dict[str, dict[str, object]], name: str) -> None:
    """Same token ids and, to 1e-5, the same vectors as the reference implementation."""
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    assert result[name]["reference_ids"] == reference[name]["token_ids"]
    assert float(result[name]["max_diff_reference"]) < 1e-5  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["minilm", "mpnet"])
def test_padded_batches_give_the_same_vectors_as_one_at_a_time(result: dict[str, dict[str, object]], name: str) -> None:
    assert float(result[name]["max_diff_batch"]) < 1e-5  # type: ignore[arg-type]
    assert result[name]["batch_shape"][0] == 6  # type: ignore[index]


@pytest.mark.parametrize("name", ["minilm", "mpnet"])
def test_paraphrases_are_closer_than_unrelated_sentences(result: dict[str, dict[str, object]], name: str) -> None:
    assert float(result[name]["paraphrase"]) > 0.4 > 0.2 > float(result[name]["unrelated"])  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "start", "end"), [("minilm", 101, 102), ("mpnet", 0, 2)])
def test_tokenizer_lowercases_strips_accents_and_control_characters(
    result: dict[str, dict[str, object]], name: str, start: int, end: int
) -> None:
    tokens = result[name]["tokens"]
    assert isinstance(tokens, list)
    assert tokens[0] == start and tokens[-1] == end
    unknown = 100 if name == "minilm" else 104
    assert unknown not in tokens and 0 not in tokens[1:]  # no unknown-token or padding ids


@pytest.mark.parametrize("name", ["minilm", "mpnet"])
def test_long_input_is_truncated_and_empty_input_works(result: dict[str, dict[str, object]], name: str) -> None:
    assert result[name]["long"] == 128
    assert result[name]["empty_finite"] is True


PREPARE = """
import sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import bot.encoders as enc
with tempfile.TemporaryDirectory() as tmp:
    target = Path(tmp) / "mpnet"
    enc.MPNET_SHA256 = "0" * 64
    try:
        enc.prepare_mpnet(target)
        print("accepted")
    except enc.EncoderUnavailable as exc:
        print("refused:", exc, "| left behind:", sorted(p.name for p in Path(tmp).iterdir()))
"""


def test_mpnet_weights_that_do_not_match_the_pinned_hash_are_refused_and_not_installed() -> None:
    run = subprocess.run(
        [str(RASA_PYTHON), "-c", PREPARE, str(PROJECT_ROOT)], capture_output=True, text=True, check=False, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert (
        run.stdout.strip() == "refused: all-mpnet-base-v2 weights do not match the expected SHA-256 | left behind: []"
    )
