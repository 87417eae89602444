#!/usr/bin/env python3
"""Writes a TEST model: a tiny GGUF with random weights (seeded).

`--arch qwen2` (default) has the real models' architecture (GQA, Q/K/V biases,
RMSNorm, SwiGLU, untied LM head); `--arch qwen3` adds an RMSNorm over each head
of Q and K, no biases, and a head size (32) other than hidden / heads (16);
`--arch llama` has no biases, an LM head tied to the embedding, and Llama 3.1's
per-frequency rope factors. Two layers, hidden size 64, and the real tokenizer
copied from a real GGUF. Its text is gibberish; it exists so that engine and
converter tests run in seconds. Never a default model. Any other `--arch`
writes a qwen2-shaped model under that name, for error tests.

Matrices are stored as Q8_0, Q5_0, Q4_0 (the converter's exact paths) and
F32, so the conversion of every grid is exercised; `--weights q4_0` stores
them all as Q4_0, which 4-bit folders represent exactly.

Usage: make_test_gguf.py --tokenizer-from REAL.gguf --out tiny.gguf [--arch qwen2|qwen3|llama]
"""

import argparse

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFWriter, RopeScalingType
from gguf.quants import quantize

HIDDEN, FFN, HEADS, KV_HEADS, LAYERS, CONTEXT = 64, 128, 4, 2, 2, 2048


def copy_tokenizer(reader, writer, pre):
    f = {k: v for k, v in reader.fields.items()}
    writer.add_tokenizer_model(f["tokenizer.ggml.model"].contents())
    writer.add_tokenizer_pre(pre or f["tokenizer.ggml.pre"].contents())
    writer.add_token_list(f["tokenizer.ggml.tokens"].contents())
    writer.add_token_types(f["tokenizer.ggml.token_type"].contents())
    writer.add_token_merges(f["tokenizer.ggml.merges"].contents())
    writer.add_eos_token_id(f["tokenizer.ggml.eos_token_id"].contents())
    writer.add_bos_token_id(f["tokenizer.ggml.bos_token_id"].contents())
    writer.add_pad_token_id(f["tokenizer.ggml.padding_token_id"].contents())
    writer.add_add_bos_token(False)
    writer.add_chat_template(f["tokenizer.chat_template"].contents())
    return len(f["tokenizer.ggml.tokens"].contents())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokenizer-from", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--arch", default="qwen2", help="qwen2, qwen3 or llama; another value writes an unsupported model, for error tests"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tokenizer-pre", help="another tokenizer.ggml.pre than the source's, for error tests")
    parser.add_argument("--rope-scaling", help="a rope scaling type to declare, for error tests")
    parser.add_argument(
        "--weights",
        choices=["mixed", "q4_0"],
        default="mixed",
        help="mixed: Q8_0, Q5_0, Q4_0 and F32 matrices; q4_0: every matrix Q4_0 (exact in 4-bit folders)",
    )
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    reader = GGUFReader(args.tokenizer_from)
    writer = GGUFWriter(args.out, args.arch)
    writer.add_name("precis test model (random weights)")
    vocab = copy_tokenizer(reader, writer, args.tokenizer_pre)
    writer.add_block_count(LAYERS)
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(HIDDEN)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-6)
    if args.rope_scaling:
        writer.add_rope_scaling_type(RopeScalingType(args.rope_scaling))
    head_dim = HIDDEN // HEADS
    if args.arch == "qwen3":
        head_dim = 2 * HIDDEN // HEADS
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)

    def tensor(name, shape, qtype, scale):
        data = (rng.standard_normal(shape) * scale).astype(np.float32)
        if qtype == GGMLQuantizationType.F32:
            writer.add_tensor(name, data)
        else:
            writer.add_tensor(name, quantize(data, qtype), raw_dtype=qtype)

    q8, q5, q4, f32 = (
        GGMLQuantizationType.Q8_0,
        GGMLQuantizationType.Q5_0,
        GGMLQuantizationType.Q4_0,
        GGMLQuantizationType.F32,
    )
    if args.weights == "q4_0":
        q8 = q5 = q4
    matrix_f32 = f32 if args.weights == "mixed" else q4
    biases = args.arch not in ("qwen3", "llama")
    # Large enough weights that the logits have clear winners (no near-ties).
    tensor("token_embd.weight", (vocab, HIDDEN), q8, 1.0)
    if args.arch != "llama":  # llama: the LM head is the embedding table
        tensor("output.weight", (vocab, HIDDEN), q8, 1.0)
    else:
        writer.add_tensor("rope_freqs.weight", rng.uniform(1.0, 8.0, head_dim // 2).astype(np.float32))
    writer.add_tensor("output_norm.weight", np.abs(rng.standard_normal(HIDDEN)).astype(np.float32) + 1.0)
    for i in range(LAYERS):
        p = f"blk.{i}."
        writer.add_tensor(p + "attn_norm.weight", np.abs(rng.standard_normal(HIDDEN)).astype(np.float32) + 0.5)
        tensor(p + "attn_q.weight", (HEADS * head_dim, HIDDEN), q5, 0.2)
        tensor(p + "attn_k.weight", (KV_HEADS * head_dim, HIDDEN), q5, 0.2)
        tensor(p + "attn_v.weight", (KV_HEADS * head_dim, HIDDEN), q8, 0.2)
        if biases:
            tensor(p + "attn_q.bias", (HEADS * head_dim,), f32, 0.1)
            tensor(p + "attn_k.bias", (KV_HEADS * head_dim,), f32, 0.1)
            tensor(p + "attn_v.bias", (KV_HEADS * head_dim,), f32, 0.1)
        if args.arch == "qwen3":
            writer.add_tensor(p + "attn_q_norm.weight", np.abs(rng.standard_normal(head_dim)).astype(np.float32) + 0.5)
            writer.add_tensor(p + "attn_k_norm.weight", np.abs(rng.standard_normal(head_dim)).astype(np.float32) + 0.5)
        tensor(p + "attn_output.weight", (HIDDEN, HEADS * head_dim), q4, 0.2)
        writer.add_tensor(p + "ffn_norm.weight", np.abs(rng.standard_normal(HIDDEN)).astype(np.float32) + 0.5)
        tensor(p + "ffn_gate.weight", (FFN, HIDDEN), q5, 0.2)
        tensor(p + "ffn_up.weight", (FFN, HIDDEN), matrix_f32, 0.2)
        tensor(p + "ffn_down.weight", (HIDDEN, FFN), q8, 0.2)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main()
