#!/usr/bin/env python3
"""Reference tokens from llama.cpp (PyPI llama-cpp-python) for the fidelity fixtures.

Writes tests/fixtures/reference_tokens.json:
  - tokenization of every file in tests/fixtures/tokenizer/ (raw bytes as UTF-8, no BOS);
  - the greedy continuation (first 20 tokens) of 10 code-summarization prompts in ChatML.

The Rust tests compare precis against this file, so CI needs no llama.cpp.
Run: python3 tools/reference_llamacpp.py --gguf ~/.cache/precis/gguf/qwen2.5-coder-0.5b-instruct.gguf
(llama-cpp-python must be built with AMX off on CPUs that have it: see the README.)
"""

import argparse
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYSTEM = "You are a senior engineer. Summarize code changes for a reviewer in a few precise sentences."

PROMPTS = [
    "Summarize what this Rust function does:\n```rust\nfn mean(xs: &[f64]) -> Option<f64> {\n    if xs.is_empty() { return None; }\n    Some(xs.iter().sum::<f64>() / xs.len() as f64)\n}\n```",
    'Summarize this Python change:\n```diff\n-def load(path):\n-    return open(path).read()\n+def load(path, encoding="utf-8"):\n+    with open(path, encoding=encoding) as fh:\n+        return fh.read()\n```',
    "Explain what this Go code does in one paragraph:\n```go\nfunc retry(n int, f func() error) error {\n\tvar err error\n\tfor i := 0; i < n; i++ {\n\t\tif err = f(); err == nil {\n\t\t\treturn nil\n\t\t}\n\t\ttime.Sleep(time.Duration(1<<i) * time.Second)\n\t}\n\treturn err\n}\n```",
    "What does this TypeScript hook do?\n```ts\nexport function useDebounced<T>(value: T, ms = 300): T {\n  const [v, setV] = useState(value);\n  useEffect(() => {\n    const t = setTimeout(() => setV(value), ms);\n    return () => clearTimeout(t);\n  }, [value, ms]);\n  return v;\n}\n```",
    "Summarize this C function and name one risk:\n```c\nchar *dup(const char *s) {\n    size_t n = strlen(s);\n    char *p = malloc(n);\n    memcpy(p, s, n + 1);\n    return p;\n}\n```",
    "Summarize this SQL migration for a reviewer:\n```sql\nALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;\nCREATE INDEX jobs_state_idx ON jobs(state, created_at);\nUPDATE jobs SET state = 'queued' WHERE state = 'running';\n```",
    "Give a title line for this pull request: it replaces a polling loop in the webhook worker with a SQLite-backed queue, adds retries with exponential backoff, and removes the unused `legacy_sync` module.",
    "Summarize what this Java class is for:\n```java\npublic final class RateLimiter {\n    private final long capacity;\n    private double tokens;\n    private long last = System.nanoTime();\n    public synchronized boolean tryAcquire() {\n        long now = System.nanoTime();\n        tokens = Math.min(capacity, tokens + (now - last) / 1e9 * capacity);\n        last = now;\n        if (tokens < 1) return false;\n        tokens -= 1;\n        return true;\n    }\n}\n```",
    'Summarize this shell script:\n```sh\n#!/bin/sh\nset -eu\nfor f in "$@"; do\n  gzip -9 -k "$f"\n  sha256sum "$f.gz" >> SHA256SUMS\ndone\n```',
    "Review this Rust diff and say what changed:\n```diff\n-    let body = req.body();\n-    let event: Event = serde_json::from_slice(body)?;\n+    let body = req.body();\n+    verify_signature(&secret, body, sig)?;\n+    let event: Event = serde_json::from_slice(body)?;\n```",
]


def chatml(user):
    return f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "reference_tokens.json"))
    args = parser.parse_args()

    import llama_cpp

    llm = llama_cpp.Llama(model_path=args.gguf, n_ctx=2048, n_threads=os.cpu_count(), verbose=False, seed=0)
    corpus_dir = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
    corpus = {}
    for name in sorted(os.listdir(corpus_dir)):
        with open(os.path.join(corpus_dir, name), "rb") as fh:
            data = fh.read()
        corpus[name] = llm.tokenize(data, add_bos=False, special=False)
    generations = []
    for user in PROMPTS:
        prompt = chatml(user)
        ids = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        llm.reset()
        out = []
        for tok in llm.generate(ids, temp=0.0, top_k=1, top_p=1.0, repeat_penalty=1.0, reset=True):
            if tok == llm.token_eos() or len(out) >= args.tokens:
                break
            out.append(tok)
        generations.append({"system": SYSTEM, "user": user, "prompt_ids": ids, "continuation": out})
        print(repr(llm.detokenize(out).decode("utf-8", "replace")))
    meta = {"reference": f"llama-cpp-python {llama_cpp.__version__}", "gguf": os.path.basename(args.gguf)}
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump({"meta": meta, "tokenization": corpus, "generation": generations}, fh, indent=None)
        fh.write("\n")


if __name__ == "__main__":
    main()
