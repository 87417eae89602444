#!/usr/bin/env python3
"""An exact reference: the GGUF's dequantized weights run in float64 with numpy.

No quantized activations, no fp16 cache: the mathematics of the model file
itself. Adds "exact_generation" (greedy, 20 tokens, same prompts as the
llama.cpp reference) to tests/fixtures/reference_tokens.json, so the tests can
tell a converter bug (disagreeing with this) from numerical noise between
runtimes (llama.cpp disagreeing at near-ties).

Run: PYTHONPATH=<converter site-packages> python3 tools/reference_numpy.py --gguf FILE
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models"))
import convert_gguf  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Qwen2:
    def __init__(self, path):
        fields, tensors = convert_gguf.read_gguf(path)
        self.hp = convert_gguf.hparams(fields)
        self.w = {n: convert_gguf.dequantize(t).astype(np.float64) for n, t in tensors.items()}
        if "output.weight" not in self.w:
            self.w["output.weight"] = self.w["token_embd.weight"]
        self.eos = int(fields["tokenizer.ggml.eos_token_id"])

    def rms(self, x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + self.hp["eps"]) * w

    def rope(self, x, pos):
        hd = self.hp["head_dim"]
        inv = 1.0 / (self.hp["rope_base"] ** (np.arange(0, hd, 2) / hd))
        ang = np.outer(pos, inv)
        cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        a, b = x[..., : hd // 2], x[..., hd // 2 :]
        return np.concatenate([a * cos - b * sin, b * cos + a * sin], -1)

    def forward(self, ids, cache):
        """Logits of the last position; `cache` (per-layer K, V lists) grows."""
        hp, w = self.hp, self.w
        nh, nkv, hd = hp["heads"], hp["kv_heads"], hp["head_dim"]
        past = cache[0][0].shape[0] if cache and cache[0][0] is not None else 0
        s = len(ids)
        pos = np.arange(past, past + s)
        x = w["token_embd.weight"][ids]
        for i in range(hp["layers"]):
            p = f"blk.{i}."
            h = self.rms(x, w[p + "attn_norm.weight"])
            q = (h @ w[p + "attn_q.weight"].T + w[p + "attn_q.bias"]).reshape(s, nh, hd)
            k = (h @ w[p + "attn_k.weight"].T + w[p + "attn_k.bias"]).reshape(s, nkv, hd)
            v = (h @ w[p + "attn_v.weight"].T + w[p + "attn_v.bias"]).reshape(s, nkv, hd)
            q, k = self.rope(q, pos), self.rope(k, pos)
            if len(cache) <= i:
                cache.append([None, None])
            if cache[i][0] is not None:
                k = np.concatenate([cache[i][0], k])
                v = np.concatenate([cache[i][1], v])
            cache[i] = [k, v]
            rep = nh // nkv
            kk, vv = np.repeat(k, rep, 1), np.repeat(v, rep, 1)
            att = np.einsum("shd,thd->hst", q, kk) / np.sqrt(hd)
            total = k.shape[0]
            causal = np.arange(total)[None, :] > (past + np.arange(s))[:, None]
            att = np.where(causal[None], -np.inf, att)
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            o = np.einsum("hst,thd->shd", att, vv).reshape(s, nh * hd)
            x = x + o @ w[p + "attn_output.weight"].T
            h = self.rms(x, w[p + "ffn_norm.weight"])
            g = h @ w[p + "ffn_gate.weight"].T
            u = h @ w[p + "ffn_up.weight"].T
            x = x + ((g / (1 + np.exp(-g))) * u) @ w[p + "ffn_down.weight"].T
        return self.rms(x[-1], w["output_norm.weight"]) @ w["output.weight"].T

    def greedy(self, ids, n):
        cache, out = [], []
        logits = self.forward(np.array(ids), cache)
        while len(out) < n:
            nxt = int(np.argmax(logits))
            if nxt == self.eos:
                break
            out.append(nxt)
            logits = self.forward(np.array([nxt]), cache)
        return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--fixture", default=os.path.join(ROOT, "tests", "fixtures", "reference_tokens.json"))
    parser.add_argument("--prompt-ids", help="comma-separated ids: print JSON {logits, continuation} instead")
    parser.add_argument("--new-tokens", type=int, default=8)
    args = parser.parse_args()
    model = Qwen2(args.gguf)
    if args.prompt_ids:
        ids = [int(t) for t in args.prompt_ids.split(",")]
        logits = model.forward(np.array(ids), [])
        json.dump({"logits": logits.tolist(), "continuation": model.greedy(ids, args.new_tokens)}, sys.stdout)
        return
    with open(args.fixture, encoding="utf-8") as fh:
        fixture = json.load(fh)
    for case in fixture["generation"]:
        case["exact_continuation"] = model.greedy(case["prompt_ids"], len(case["continuation"]) or 20)
        same = case["exact_continuation"] == case["continuation"]
        print("llama.cpp agrees" if same else "llama.cpp differs", flush=True)
    fixture["meta"]["exact_reference"] = "tools/reference_numpy.py (float64)"
    with open(args.fixture, "w", encoding="utf-8") as fh:
        json.dump(fixture, fh)
        fh.write("\n")


if __name__ == "__main__":
    main()
