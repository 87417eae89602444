#!/usr/bin/env python3
"""llama.cpp's logits for the converter's model families, as test fixtures.

For each GGUF named on the command line (NAME=PATH), llama.cpp (PyPI
llama-cpp-python) reads a few prompts of token ids and its logits at every
position are kept in a compact form: the top-1 token, and the logits at a fixed
seeded sample of vocabulary ids plus llama.cpp's own top 8 (a cosine over that
sample tracks the cosine over the whole vocabulary). With --corpus, the
tokenization of every file in tests/fixtures/tokenizer/ is kept too, and with
--text the prompts are given as chat text that llama.cpp tokenizes (for a real
model, whose tokenizer is then checked as well).

The Rust tests (tests/families.rs) compare precis against the file, so CI needs
no llama.cpp. Each entry keeps its GGUF's sha256: a test model written
differently fails with a message to regenerate the fixture.

  python3 tools/reference_families.py --out tests/fixtures/families_llamacpp.json \
      tiny-llama=PATH tiny-qwen3=PATH smollm2=PATH:text
(a `:text` suffix: chat-text prompts and the tokenizer corpus; otherwise random
token ids). Needs llama-cpp-python (see docs/MODELS.md for building it).
"""

import argparse
import hashlib
import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = 256
TOP = 8
TEXT_PROMPTS = [
    "<|im_start|>user\nSummarize: fn add(a: i32, b: i32) -> i32 { a + b }<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nWhat does `git rebase -i HEAD~3` do?<|im_end|>\n<|im_start|>assistant\nIt opens",
    "def mean(xs):\n    return sum(xs) / len(xs)\n\n# The function above computes the",
]


def sha256(path):
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "families_llamacpp.json"))
    parser.add_argument("models", nargs="+", help="NAME=PATH or NAME=PATH:text")
    args = parser.parse_args()

    import llama_cpp

    out = {"llama_cpp_python": llama_cpp.__version__, "models": {}}
    for spec in args.models:
        name, path = spec.split("=", 1)
        text = path.endswith(":text")
        path = path.removesuffix(":text")
        llm = llama_cpp.Llama(
            model_path=path, n_ctx=512, n_threads=os.cpu_count(), logits_all=True, verbose=False, seed=0
        )
        vocab = llm.n_vocab()
        rng = np.random.default_rng(11)
        if text:
            prompts = [llm.tokenize(p.encode(), add_bos=False, special=True) for p in TEXT_PROMPTS]
        else:
            prompts = [rng.integers(100, min(vocab, 50000), n).tolist() for n in (6, 17, 31)]
        sample = sorted(rng.choice(vocab, SAMPLE, replace=False).tolist())
        entry = {"sha256": sha256(path), "vocab": vocab, "prompts": []}
        for ids in prompts:
            llm.reset()
            llm.eval(ids)
            scores = np.array(llm.scores[: len(ids)], dtype=np.float64)
            positions = []
            for row in scores:
                top = np.argsort(-row)[:TOP].tolist()
                ids_kept = sorted(set(sample) | set(top))
                positions.append(
                    {"top1": int(top[0]), "ids": ids_kept, "logits": [round(float(row[i]), 5) for i in ids_kept]}
                )
            entry["prompts"].append({"ids": [int(i) for i in ids], "positions": positions})
        if text:
            corpus_dir = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
            entry["corpus"] = {}
            for file in sorted(os.listdir(corpus_dir)):
                with open(os.path.join(corpus_dir, file), "rb") as fh:
                    entry["corpus"][file] = llm.tokenize(fh.read(), add_bos=False, special=False)
            entry["text_prompts"] = TEXT_PROMPTS
        out["models"][name] = entry
        print(f"{name}: {len(prompts)} prompts, vocab {vocab}")
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(out, fh, separators=(",", ":"))
        fh.write("\n")


if __name__ == "__main__":
    main()
