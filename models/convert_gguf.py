#!/usr/bin/env python3
"""Convert a qwen2, qwen3 or llama GGUF into an ONNX LLM folder (onnxruntime-genai layout).

Output: model.onnx + model.onnx.data, genai_config.json, tokenizer.json,
tokenizer_config.json, precis_model.json.

Weights are dequantized with the `gguf` package (it implements every ggml type)
and requantized into ONNX Runtime's MatMulNBits layout: ggml's block layouts
differ from MatMulNBits packing, so blocks are never copied.

Only light dependencies: gguf, numpy, onnx. Errors go to stderr as one line
starting with "error:" and exit code 2, so the Rust caller can show them as is.
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import onnx
from gguf import GGMLQuantizationType, GGUFReader
from gguf.quants import dequantize as gg_dequantize
from onnx import TensorProto, helper, numpy_helper

CONVERTER_VERSION = 4

# Beside model.onnx: the same decoder with logits for the last position only.
LAST_LOGITS_FILE = "model_last_logits.onnx"

# The pre-tokenizer splits of byte-level BPE tokenizers, by the GGUF's
# tokenizer.ggml.pre, as their publishers define them (applied in order).
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
PRE_TOKENIZERS = {
    "qwen2": {"splits": [QWEN2_SPLIT], "ignore_merges": False, "add_bos": False},
    # Llama 3: a pre-token that is itself in the vocabulary is not merged further.
    "llama-bpe": {"splits": [LLAMA3_SPLIT], "ignore_merges": True, "add_bos": True},
    # SmolLM: every digit alone, then GPT-2's split.
    "smollm": {"splits": [r"\p{N}", GPT2_SPLIT], "ignore_merges": False, "add_bos": False},
    "gpt-2": {"splits": [GPT2_SPLIT], "ignore_merges": False, "add_bos": False},
}

# How llama.cpp runs each architecture; every size and option beyond these is
# read from the GGUF's metadata.
#   rope: "neox" rotates the two halves of each head; "interleaved" rotates
#     adjacent pairs (llama GGUFs store Q and K rows permuted for it).
#   qkv_bias_required: the Q/K/V biases must be there (elsewhere used when present).
#   qk_norm: an RMSNorm over each head of Q and of K before the rotation.
ARCHITECTURES = {
    "qwen2": {"rope": "neox", "qkv_bias_required": True, "qk_norm": False, "hf": "Qwen2ForCausalLM"},
    "qwen3": {"rope": "neox", "qkv_bias_required": False, "qk_norm": True, "hf": "Qwen3ForCausalLM"},
    "llama": {"rope": "interleaved", "qkv_bias_required": False, "qk_norm": False, "hf": "LlamaForCausalLM"},
}


class ConvertError(Exception):
    pass


def fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def read_gguf(path):
    try:
        reader = GGUFReader(path)
    except Exception as exc:  # the gguf package raises plain ValueErrors on junk
        raise ConvertError(f"{path} is not a readable GGUF file ({exc}); fetch the model again") from exc
    fields = {}
    for key, field in reader.fields.items():
        try:
            fields[key] = field.contents()
        except Exception:
            fields[key] = None
    arch = fields.get("general.architecture")
    if arch not in ARCHITECTURES:
        raise ConvertError(
            f"GGUF architecture {arch!r} is not supported (supported: {', '.join(sorted(ARCHITECTURES))}); "
            "use a GGUF of one of those or an ONNX folder"
        )
    if fields.get("tokenizer.ggml.model") != "gpt2":
        raise ConvertError(
            f"GGUF tokenizer {fields.get('tokenizer.ggml.model')!r} is not byte-level BPE (tokenizer.ggml.model "
            "must be 'gpt2'); SentencePiece tokenizers are not supported yet"
        )
    pre = fields.get("tokenizer.ggml.pre")
    if pre not in PRE_TOKENIZERS:
        raise ConvertError(
            f"GGUF tokenizer pre-split {pre!r} is not known (tokenizer.ggml.pre; known: "
            f"{', '.join(sorted(PRE_TOKENIZERS))}); its text would be split wrongly"
        )
    tensors = {t.name: t for t in reader.tensors}
    return fields, tensors


def hparams(fields):
    arch = fields["general.architecture"]

    def need(key):
        value = fields.get(f"{arch}.{key}")
        if value is None:
            raise ConvertError(f"GGUF metadata lacks {arch}.{key}; the file is incomplete or not a {arch} model")
        return value

    heads = int(need("attention.head_count"))
    hidden = int(need("embedding_length"))
    head_dim = int(fields.get(f"{arch}.attention.key_length") or hidden // heads)
    value_dim = int(fields.get(f"{arch}.attention.value_length") or head_dim)
    if value_dim != head_dim:
        raise ConvertError(f"GGUF has keys of {head_dim} and values of {value_dim} per head; only equal sizes are supported")
    rotary = int(fields.get(f"{arch}.rope.dimension_count") or head_dim)
    if rotary != head_dim:
        raise ConvertError(f"GGUF rotates {rotary} of {head_dim} dimensions per head; partial rotary is not supported")
    scaling = fields.get(f"{arch}.rope.scaling.type") or "none"
    if scaling not in ("none", "linear"):
        raise ConvertError(f"GGUF rope scaling {scaling!r} is not supported (supported: none, linear, frequency factors)")
    return {
        "arch": arch,
        **ARCHITECTURES[arch],
        "layers": int(need("block_count")),
        "hidden": hidden,
        "ffn": int(need("feed_forward_length")),
        "heads": heads,
        "kv_heads": int(need("attention.head_count_kv")),
        "head_dim": head_dim,
        "context": int(need("context_length")),
        "rope_base": float(fields.get(f"{arch}.rope.freq_base") or 10000.0),
        "rope_linear_factor": float(fields.get(f"{arch}.rope.scaling.factor") or 1.0) if scaling == "linear" else 1.0,
        "eps": float(need("attention.layer_norm_rms_epsilon")),
    }


def dequantize(tensor):
    kind = tensor.tensor_type
    if kind == GGMLQuantizationType.F32:
        out = np.array(tensor.data, dtype=np.float32)
    else:
        out = gg_dequantize(tensor.data, kind).astype(np.float32)
    # GGUF lists dims innermost first; numpy's shape is the reverse (rows = output features).
    shape = tuple(int(d) for d in reversed(tensor.shape))
    return out.reshape(shape)


def pack_nbits(q, zero, bits):
    """Packs [N, blocks, block] codes (and per-block zero points) as MatMulNBits wants.

    4-bit codes: consecutive pairs in one byte, low nibble first; zero points
    are packed the same way.
    """

    n, blocks, _ = q.shape
    if bits == 4:
        packed = q[:, :, 0::2] | (q[:, :, 1::2] << 4)
    else:
        packed = q
    zero = zero.astype(np.uint8)
    if bits == 4:
        if blocks % 2:
            zero = np.concatenate([zero, np.zeros((n, 1), np.uint8)], axis=1)
        zero = zero[:, 0::2] | (zero[:, 1::2] << 4)
    return packed, zero.reshape(-1)


def quantize_rtn(weight, bits, block_size=32):
    """Asymmetric round-to-nearest quantization of float weights [N, K].

    Zero is kept exactly representable, as ONNX Runtime's own quantizer does.
    Returns (codes [N, blocks, block], scales [N, blocks], integer zero points).
    """

    n, k = weight.shape
    blocks = -(-k // block_size)
    padded = np.zeros((n, blocks * block_size), dtype=np.float32)
    padded[:, :k] = weight
    w = padded.reshape(n, blocks, block_size)
    levels = (1 << bits) - 1
    lo = np.minimum(w.min(axis=2), 0.0)
    hi = np.maximum(w.max(axis=2), 0.0)
    scale = (hi - lo) / levels
    scale[scale == 0] = 1.0
    zero = np.clip(np.round(-lo / scale), 0, levels)
    q = np.clip(np.round(w / scale[:, :, None]) + zero[:, :, None], 0, levels).astype(np.uint8)
    return q, scale.astype(np.float32), zero.astype(np.uint8)


def f16_at(raw, offset):
    return raw[..., offset : offset + 2].copy().view(np.float16)[..., 0].astype(np.float32)


def source_grid(tensor, weight):
    """The GGUF's own quantization grid, re-expressed for MatMulNBits without loss.

    Returns (bits, block_size, scales [N, blocks], zero points [N, blocks]) or
    None when the type has no exact mapping that ONNX Runtime's fast CPU
    kernels take (block 32, integer zero points). Codes follow from the weights.
    Q8_0: x = d*q; Q5_0: x = d*(q-16); Q4_0: x = d*(q-8).
    K-quants (Q6_K's 16-value blocks, Q4_K's fractional offsets) map exactly
    only onto block 16 or float zero points, which run 3-40x slower there.
    """

    kind = tensor.tensor_type.name
    n, k = weight.shape
    raw = np.asarray(tensor.data).reshape(n, -1)
    if kind == "Q8_0":
        d = f16_at(raw.reshape(n, k // 32, 34), 0)
        return 8, 32, d, np.full_like(d, 128, dtype=np.uint8)
    if kind == "Q4_0":
        d = f16_at(raw.reshape(n, k // 32, 18), 0)
        return 4, 32, d, np.full_like(d, 8, dtype=np.uint8)
    if kind == "Q5_0":
        d = f16_at(raw.reshape(n, k // 32, 22), 0)
        return 8, 32, d, np.full_like(d, 16, dtype=np.uint8)
    return None


def quantize_source(tensor, weight):
    """Codes on the source grid; None when the type has no exact mapping or the
    reconstruction does not reproduce the dequantized weights."""

    grid = source_grid(tensor, weight)
    if grid is None:
        return None
    bits, block, scale, zero = grid
    scale = np.where(scale == 0, 1.0, scale).astype(np.float32)  # an all-zero block
    n, k = weight.shape
    w = weight.reshape(n, k // block, block)
    levels = (1 << bits) - 1
    q = np.clip(np.round(w / scale[:, :, None] + zero[:, :, None]), 0, levels)
    back = (q - zero[:, :, None]) * scale[:, :, None]
    tolerance = 1e-3 * max(float(np.abs(w).max()), 1e-6)
    if float(np.abs(back - w).max()) > tolerance:
        return None
    return bits, block, q.astype(np.uint8), scale, zero


def build_tokenizer(fields):
    tokens = list(fields["tokenizer.ggml.tokens"])
    types = list(fields["tokenizer.ggml.token_type"])
    merges = list(fields["tokenizer.ggml.merges"])
    vocab = {}
    added = []
    for idx, (tok, kind) in enumerate(zip(tokens, types)):
        if kind == 1:  # normal
            vocab[tok] = idx
        elif kind in (3, 4):  # control, user-defined: matched whole in raw text
            # In the vocabulary too, so that the tokenizer keeps its GGUF id
            # (an added token outside it is numbered after the vocabulary).
            vocab[tok] = idx
            added.append(
                {
                    "id": idx,
                    "content": tok,
                    "single_word": False,
                    "lstrip": False,
                    "rstrip": False,
                    "normalized": False,
                    "special": kind == 3,
                }
            )
        # kind 5 (unused padding slots) stays out: no text can produce it.
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    pre = PRE_TOKENIZERS[fields["tokenizer.ggml.pre"]]
    splits = [
        {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}
        for regex in pre["splits"]
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [*splits, byte_level],
        },
        "post_processor": dict(byte_level),
        "decoder": dict(byte_level),
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": pre["ignore_merges"],
            "vocab": vocab,
            "merges": [m.split(" ", 1) for m in merges],
        },
    }, added


def tokenizer_config(fields, added, context):
    tokens = fields["tokenizer.ggml.tokens"]
    eos = tokens[int(fields["tokenizer.ggml.eos_token_id"])]
    pad_id = fields.get("tokenizer.ggml.padding_token_id")
    bos_id = fields.get("tokenizer.ggml.bos_token_id")
    add_bos = fields.get("tokenizer.ggml.add_bos_token")
    if add_bos is None:  # llama.cpp's default for the tokenizer's family
        add_bos = PRE_TOKENIZERS[fields["tokenizer.ggml.pre"]]["add_bos"]
    return {
        "tokenizer_class": "Qwen2Tokenizer" if fields["general.architecture"].startswith("qwen") else "PreTrainedTokenizerFast",
        "add_bos_token": bool(add_bos) and bos_id is not None,
        "bos_token": tokens[int(bos_id)] if bos_id is not None else None,
        "eos_token": eos,
        "pad_token": tokens[int(pad_id)] if pad_id is not None else None,
        "unk_token": None,
        "model_max_length": context,
        "clean_up_tokenization_spaces": False,
        "errors": "replace",
        "split_special_tokens": False,
        "chat_template": fields.get("tokenizer.chat_template"),
        "added_tokens_decoder": {str(a["id"]): {k: v for k, v in a.items() if k != "id"} for a in added},
    }


def quantize_stacked(sources, weight):
    """quantize_source over tensors stacked by rows (Q, K, V); None unless all
    map exactly onto one bit width and block size."""

    parts, row = [], 0
    for t in sources:
        rows = int(t.shape[-1])
        part = quantize_source(t, weight[row : row + rows])
        if part is None:
            return None
        parts.append(part)
        row += rows
    first = parts[0]
    if any(p[0] != first[0] or p[1] != first[1] for p in parts):
        return None
    return (first[0], first[1]) + tuple(np.concatenate([p[i] for p in parts]) for i in (2, 3, 4))


class GraphBuilder:
    def __init__(self, act_type):
        self.nodes = []
        self.inits = []
        self.act = act_type  # TensorProto.FLOAT or FLOAT16
        self.np_act = "float32" if act_type == TensorProto.FLOAT else "float16"
        self.count = 0

    def name(self, base):
        self.count += 1
        return f"{base}_{self.count}"

    def init(self, name, array):
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op, inputs, outputs=None, domain="", **attrs):
        outputs = outputs or [self.name(op)]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=self.name(op + "_node"), domain=domain, **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    def matmul_nbits(self, x, weight, sources, policy, prefix, accuracy_level):
        """x @ weight.T as MatMulNBits. `sources` are the GGUF tensors stacked in `weight`."""

        n, k = weight.shape
        exact = quantize_stacked(sources, weight)
        if exact is not None and policy == "int4" and exact[0] != 4:
            exact = None  # int4 takes only the grids that are 4-bit already (Q4_0)
        if exact is not None:
            bits, block, q, scale, zero = exact
        else:
            # 4 bits everywhere (int4), or 8 bits where the source grid has no exact mapping.
            bits = 4 if policy == "int4" else 8
            block = 32
            q, scale, zero = quantize_rtn(weight, bits, block)
        packed, zero = pack_nbits(q, zero, bits)
        b = self.init(prefix + ".qweight", packed)
        s = self.init(prefix + ".scales", scale.reshape(-1).astype(self.np_act))
        z = self.init(prefix + ".qzeros", zero)
        attrs = {"K": k, "N": n, "bits": bits, "block_size": block}
        if accuracy_level:
            attrs["accuracy_level"] = accuracy_level
        return self.node("MatMulNBits", [x, b, s, z], [prefix + ".out"], domain="com.microsoft", **attrs)


def attention_bias_allowed(g):
    """[batch, 1, seq, total] booleans: key j is visible to query i when the
    mask has it and it is not after the query (query i sits at slot past + i)."""
    total = g.node("Gather", [g.node("Shape", ["attention_mask"]), g.init("axis1", np.array(1, np.int64))], axis=0)
    seq = g.node("Gather", [g.node("Shape", ["input_ids"]), g.init("axis1b", np.array(1, np.int64))], axis=0)
    past = g.node("Sub", [total, seq])
    zero, one = g.init("zero_i64", np.array(0, np.int64)), g.init("one_i64s", np.array(1, np.int64))
    query_slot = g.node("Add", [g.node("Range", [zero, seq, one]), past])
    key_slot = g.node("Range", [zero, total, one])
    causal = g.node(
        "LessOrEqual",
        [
            g.node("Unsqueeze", [key_slot, g.init("axis0", np.array([0], np.int64))]),
            g.node("Unsqueeze", [query_slot, g.init("axis1c", np.array([1], np.int64))]),
        ],
    )
    present = g.node("Cast", ["attention_mask"], to=TensorProto.BOOL)
    present = g.node("Unsqueeze", [present, g.init("axes12", np.array([1, 2], np.int64))])
    return g.node("And", [causal, present])


def split_qkv(g, qkv, layer, heads, kv_heads, hd, qk_norm):
    """Q, K and V apart, with Q and K normalized over each head when `qk_norm`
    (q weight, k weight, epsilon) is given."""
    sizes = g.init(f"qkv_sizes_{layer}", np.array([heads * hd, kv_heads * hd, kv_heads * hd], np.int64))
    q, k, v = g.node("Split", [qkv, sizes], [g.name("q"), g.name("k"), g.name("v")], axis=2)
    if qk_norm is not None:
        q_w, k_w, eps = qk_norm

        def per_head(x, n, weight):
            x = g.node("Reshape", [x, g.init(g.name("shape"), np.array([0, 0, n, hd], np.int64))])
            x = g.node("SimplifiedLayerNormalization", [x, weight], axis=-1, epsilon=eps, stash_type=1)
            return g.node("Reshape", [x, g.init(g.name("shape"), np.array([0, 0, n * hd], np.int64))])

        q, k = per_head(q, heads, q_w), per_head(k, kv_heads, k_w)
    return [q, k, v]


def plain_attention(g, qkv, layer, allowed, cos, sin, heads, kv_heads, hd, np_act, interleaved, qk_norm):
    """Attention from standard ONNX ops (the Optimum layout): rotary from
    position_ids, the new keys and values appended after the past."""
    q, k, v = split_qkv(g, qkv, layer, heads, kv_heads, hd, qk_norm)

    def heads_first(x, n):
        shape = g.init(g.name("shape"), np.array([0, 0, n, hd], np.int64))
        return g.node("Transpose", [g.node("Reshape", [x, shape])], perm=[0, 2, 1, 3])

    # cos/sin at each token's position: [batch, 1, seq, hd/2]
    axis1 = g.init(g.name("axis"), np.array([1], np.int64))
    c = g.node("Unsqueeze", [g.node("Gather", [cos, "position_ids"], axis=0), axis1])
    s_ = g.node("Unsqueeze", [g.node("Gather", [sin, "position_ids"], axis=0), axis1])

    def rotate(x):
        if interleaved:
            # pairs (x0, x1), (x2, x3), …: [b, h, s, hd/2, 2]
            pairs = g.node("Reshape", [x, g.init(g.name("shape"), np.array([0, 0, 0, hd // 2, 2], np.int64))])
            ones = g.init(g.name("ones"), np.array([1, 1], np.int64))
            x1, x2 = g.node("Split", [pairs, ones], [g.name("x1"), g.name("x2")], axis=4)
            last = g.init(g.name("axis"), np.array([4], np.int64))
            c_, sn = g.node("Unsqueeze", [c, last]), g.node("Unsqueeze", [s_, last])
            first = g.node("Sub", [g.node("Mul", [x1, c_]), g.node("Mul", [x2, sn])])
            second = g.node("Add", [g.node("Mul", [x2, c_]), g.node("Mul", [x1, sn])])
            out = g.node("Concat", [first, second], axis=4)
            return g.node("Reshape", [out, g.init(g.name("shape"), np.array([0, 0, 0, hd], np.int64))])
        half = g.init(g.name("halves"), np.array([hd // 2, hd // 2], np.int64))
        x1, x2 = g.node("Split", [x, half], [g.name("x1"), g.name("x2")], axis=3)
        first = g.node("Sub", [g.node("Mul", [x1, c]), g.node("Mul", [x2, s_])])
        second = g.node("Add", [g.node("Mul", [x2, c]), g.node("Mul", [x1, s_])])
        return g.node("Concat", [first, second], axis=3)

    q = rotate(heads_first(q, heads))
    k = rotate(heads_first(k, kv_heads))
    v = heads_first(v, kv_heads)
    present_k = g.node("Concat", [f"past_key_values.{layer}.key", k], [f"present.{layer}.key"], axis=2)
    present_v = g.node("Concat", [f"past_key_values.{layer}.value", v], [f"present.{layer}.value"], axis=2)

    def repeat_kv(x):
        # [b, kv, t, hd] -> [b, kv, rep, t, hd] -> [b, heads, t, hd]
        x = g.node("Unsqueeze", [x, g.init(g.name("axis"), np.array([2], np.int64))])
        shape = g.node("Shape", [x])
        rep = g.init(g.name("rep"), np.array([1, 1, heads // kv_heads, 1, 1], np.int64))
        x = g.node("Expand", [x, g.node("Mul", [shape, rep])])
        return g.node("Reshape", [x, g.init(g.name("shape"), np.array([0, heads, -1, hd], np.int64))])

    scores = g.node("MatMul", [q, g.node("Transpose", [repeat_kv(present_k)], perm=[0, 1, 3, 2])])
    scores = g.node("Mul", [scores, g.init(g.name("scale"), np.array(1.0 / np.sqrt(hd), np_act))])
    low = g.init(g.name("low"), np.array(np.finfo(np_act).min, np_act))
    scores = g.node("Where", [allowed, scores, low])
    probs = g.node("Softmax", [scores], axis=-1)
    out = g.node("Transpose", [g.node("MatMul", [probs, repeat_kv(present_v)])], perm=[0, 2, 1, 3])
    return g.node("Reshape", [out, g.init(g.name("shape"), np.array([0, 0, heads * hd], np.int64))])


# precision: (activation type, weight policy, MatMulNBits accuracy_level)
PRECISIONS = {
    # 8-bit weights, exact where the GGUF's grid allows; int8 activations in matmuls.
    "int8": ("float32", "source", 4),
    # every weight 4-bit: fastest on CPU, further from the source model.
    "int4": ("float32", "int4", 4),
    # 4-bit weights, fp16 activations and KV cache: for CUDA (its attention kernel is fp16 only).
    "fp16": ("float16", "int4", 0),
}


def build_model(fields, tensors, precision, layout, progress):
    hp = hparams(fields)
    act_name, policy, accuracy = PRECISIONS[precision]
    act = TensorProto.FLOAT16 if act_name == "float16" else TensorProto.FLOAT
    np_act = np.float16 if act_name == "float16" else np.float32
    g = GraphBuilder(act)
    layers, heads, kv_heads, hd = hp["layers"], hp["heads"], hp["kv_heads"], hp["head_dim"]
    eps = hp["eps"]

    def tensor(name):
        t = tensors.get(name)
        if t is None:
            raise ConvertError(f"GGUF lacks tensor {name}; the file is incomplete or not a {hp['arch']} model")
        return t

    def vec(name):
        return dequantize(tensor(name)).astype(np_act)

    if layout == "genai":
        # Sequence bookkeeping that GroupQueryAttention wants, derived from the mask.
        mask_sum = g.node("ReduceSum", ["attention_mask", g.init("one_axis", np.array([1], np.int64))], keepdims=1)
        seqlens = g.node("Sub", [mask_sum, g.init("one_i64", np.array([1], np.int64))])
        seqlens_k = g.node("Cast", [seqlens], to=TensorProto.INT32)
        mask_shape = g.node("Shape", ["attention_mask"])
        total_len = g.node("Gather", [mask_shape, g.init("one_scalar", np.array(1, np.int64))], axis=0)
        total_len_i32 = g.node("Cast", [total_len], to=TensorProto.INT32)

    inv_freq = 1.0 / (hp["rope_base"] ** (np.arange(0, hd, 2, dtype=np.float64) / hd)) / hp["rope_linear_factor"]
    if "rope_freqs.weight" in tensors:  # Llama 3.1's per-frequency factors
        factors = dequantize(tensors["rope_freqs.weight"]).reshape(-1).astype(np.float64)
        if factors.shape != inv_freq.shape:
            raise ConvertError(f"GGUF rope_freqs.weight has {factors.size} factors for {inv_freq.size} frequencies")
        inv_freq = inv_freq / factors
    interleaved = hp["rope"] == "interleaved"
    angles = np.outer(np.arange(hp["context"], dtype=np.float64), inv_freq)
    cos = g.init("cos_cache", np.cos(angles).astype(np_act))
    sin = g.init("sin_cache", np.sin(angles).astype(np_act))

    embed = dequantize(tensor("token_embd.weight"))
    # The table is only gathered from, never multiplied: fp16 halves its memory.
    table = g.init("embed_tokens.weight", embed.astype(np.float16))
    x = g.node("Gather", [table, "input_ids"], axis=0)
    if act == TensorProto.FLOAT:
        x = g.node("Cast", [x], to=TensorProto.FLOAT)

    graph_inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch_size", "total_sequence_length"]),
    ]
    if layout == "optimum":
        graph_inputs.append(
            helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["batch_size", "sequence_length"])
        )
        allowed = attention_bias_allowed(g)
    graph_outputs = [
        helper.make_tensor_value_info(
            "logits", TensorProto.FLOAT, ["batch_size", "sequence_length", int(embed.shape[0])]
        )
    ]
    residual = None
    pending = x  # output of the previous block, not yet added to the residual
    for i in range(layers):
        progress(i, layers)
        p = f"layers.{i}"
        norm_w = g.init(p + ".attn_norm", vec(f"blk.{i}.attn_norm.weight"))
        if residual is None:
            normed = g.node("SimplifiedLayerNormalization", [pending, norm_w], axis=-1, epsilon=eps, stash_type=1)
            residual = pending
        else:
            outs = [g.name("attn_norm"), "", "", g.name("residual")]
            normed, _, _, residual = g.node(
                "SkipSimplifiedLayerNormalization",
                [pending, residual, norm_w],
                outs,
                domain="com.microsoft",
                epsilon=eps,
            )
        q_t, k_t, v_t = (
            tensor(f"blk.{i}.attn_q.weight"),
            tensor(f"blk.{i}.attn_k.weight"),
            tensor(f"blk.{i}.attn_v.weight"),
        )
        qkv_w = np.concatenate([dequantize(q_t), dequantize(k_t), dequantize(v_t)], axis=0)
        qkv = g.matmul_nbits(normed, qkv_w, [q_t, k_t, v_t], policy, p + ".qkv_proj", accuracy)
        bias_names = [f"blk.{i}.attn_{n}.bias" for n in "qkv"]
        if hp["qkv_bias_required"] or any(n in tensors for n in bias_names):
            qkv_b = np.concatenate([vec(n) for n in bias_names])
            qkv = g.node("Add", [qkv, g.init(p + ".qkv_bias", qkv_b)])
        qk_norm = None
        if hp["qk_norm"]:
            qk_norm = (
                g.init(p + ".q_norm", vec(f"blk.{i}.attn_q_norm.weight")),
                g.init(p + ".k_norm", vec(f"blk.{i}.attn_k_norm.weight")),
                eps,
            )
        past_k, past_v = f"past_key_values.{i}.key", f"past_key_values.{i}.value"
        present_k, present_v = f"present.{i}.key", f"present.{i}.value"
        for name in (past_k, past_v):
            graph_inputs.append(
                helper.make_tensor_value_info(name, act, ["batch_size", kv_heads, "past_sequence_length", hd])
            )
        for name in (present_k, present_v):
            graph_outputs.append(
                helper.make_tensor_value_info(name, act, ["batch_size", kv_heads, "total_sequence_length", hd])
            )
        if layout == "optimum":
            attn = plain_attention(g, qkv, i, allowed, cos, sin, heads, kv_heads, hd, np_act, interleaved, qk_norm)
        else:
            # Packed QKV unless Q and K are normalized per head first.
            qkv_inputs = [qkv, "", ""] if qk_norm is None else split_qkv(g, qkv, i, heads, kv_heads, hd, qk_norm)
            attn = g.node(
                "GroupQueryAttention",
                [*qkv_inputs, past_k, past_v, seqlens_k, total_len_i32, cos, sin],
                [g.name("attn"), present_k, present_v],
                domain="com.microsoft",
                num_heads=heads,
                kv_num_heads=kv_heads,
                do_rotary=1,
                rotary_interleaved=int(interleaved),
            )[0]
        o_t = tensor(f"blk.{i}.attn_output.weight")
        o = g.matmul_nbits(attn, dequantize(o_t), [o_t], policy, p + ".o_proj", accuracy)
        ffn_norm = g.init(p + ".ffn_norm", vec(f"blk.{i}.ffn_norm.weight"))
        outs = [g.name("ffn_norm"), "", "", g.name("residual")]
        normed, _, _, residual = g.node(
            "SkipSimplifiedLayerNormalization", [o, residual, ffn_norm], outs, domain="com.microsoft", epsilon=eps
        )
        gate_t, up_t, down_t = (tensor(f"blk.{i}.ffn_{n}.weight") for n in ("gate", "up", "down"))
        gate = g.matmul_nbits(normed, dequantize(gate_t), [gate_t], policy, p + ".gate_proj", accuracy)
        up = g.matmul_nbits(normed, dequantize(up_t), [up_t], policy, p + ".up_proj", accuracy)
        act_out = g.node("Mul", [g.node("Mul", [gate, g.node("Sigmoid", [gate])]), up])
        pending = g.matmul_nbits(act_out, dequantize(down_t), [down_t], policy, p + ".down_proj", accuracy)
    progress(layers, layers)

    final_norm = g.init("final_norm", vec("output_norm.weight"))
    outs = [g.name("final_norm"), "", "", ""]
    normed = g.node(
        "SkipSimplifiedLayerNormalization", [pending, residual, final_norm], outs, domain="com.microsoft", epsilon=eps
    )[0]
    # Models without output.weight tie the LM head to the embedding table.
    head_t = tensors.get("output.weight") or tensor("token_embd.weight")
    head_w = embed if head_t.name == "token_embd.weight" else dequantize(head_t)
    logits = g.matmul_nbits(normed, head_w, [head_t], policy, "lm_head", accuracy)
    if act == TensorProto.FLOAT16:
        g.node("Cast", [logits], ["logits"], to=TensorProto.FLOAT)
    else:
        g.node("Identity", [logits], ["logits"])

    graph = helper.make_graph(g.nodes, f"precis-{hp['arch']}", graph_inputs, graph_outputs, initializer=g.inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)],
        producer_name="precis",
    )
    model.ir_version = 10
    return model, hp, int(embed.shape[0])


def genai_config(fields, hp, vocab_size, precision):
    eos = int(fields["tokenizer.ggml.eos_token_id"])
    bos = int(fields.get("tokenizer.ggml.bos_token_id") or eos)
    pad = int(fields.get("tokenizer.ggml.padding_token_id") or bos)
    provider_options = [{"cuda": {}}] if PRECISIONS[precision][0] == "float16" else []
    return {
        "model": {
            "type": hp["arch"],
            "vocab_size": vocab_size,
            "context_length": hp["context"],
            "bos_token_id": bos,
            "eos_token_id": sorted({eos, pad}),
            "pad_token_id": pad,
            "decoder": {
                "session_options": {"log_id": "onnxruntime-genai", "provider_options": provider_options},
                "filename": "model.onnx",
                "head_size": hp["head_dim"],
                "hidden_size": hp["hidden"],
                "num_attention_heads": hp["heads"],
                "num_key_value_heads": hp["kv_heads"],
                "num_hidden_layers": hp["layers"],
                "inputs": {
                    "input_ids": "input_ids",
                    "attention_mask": "attention_mask",
                    "past_key_names": "past_key_values.%d.key",
                    "past_value_names": "past_key_values.%d.value",
                },
                "outputs": {
                    "logits": "logits",
                    "present_key_names": "present.%d.key",
                    "present_value_names": "present.%d.value",
                },
            },
        },
        "search": {
            "max_length": hp["context"],
            "min_length": 0,
            "do_sample": False,
            "temperature": 1.0,
            "top_k": 1,
            "top_p": 1.0,
            "repetition_penalty": 1.0,
            "num_beams": 1,
            "num_return_sequences": 1,
            "past_present_share_buffer": False,
            "early_stopping": True,
            "length_penalty": 1.0,
            "diversity_penalty": 0.0,
            "no_repeat_ngram_size": 0,
        },
    }


def optimum_config(fields, hp, vocab_size):
    """config.json and generation_config.json as Optimum / transformers.js folders have them."""
    eos = int(fields["tokenizer.ggml.eos_token_id"])
    bos = int(fields.get("tokenizer.ggml.bos_token_id") or eos)
    config = {
        "architectures": [hp["hf"]],
        "model_type": hp["arch"],
        "hidden_size": hp["hidden"],
        "intermediate_size": hp["ffn"],
        "num_hidden_layers": hp["layers"],
        "num_attention_heads": hp["heads"],
        "num_key_value_heads": hp["kv_heads"],
        "head_dim": hp["head_dim"],
        "max_position_embeddings": hp["context"],
        "rms_norm_eps": hp["eps"],
        "rope_theta": hp["rope_base"],
        "vocab_size": vocab_size,
        "bos_token_id": bos,
        "eos_token_id": eos,
    }
    generation = {"bos_token_id": bos, "eos_token_id": sorted({eos, bos}), "do_sample": False}
    return {"config.json": config, "generation_config.json": generation}


def write_last_logits_variant(onnx_path, out_path):
    """The decoder with its LM head applied to the last position only. A
    prompt's other positions need no logits, and onnxruntime computes every
    node of a graph whatever outputs are asked for, so this graph prefills a
    long prompt ~30% faster and without a [sequence, vocabulary] buffer. It
    reads the same weights file; onnxruntime-genai keeps using model.onnx."""
    model = onnx.load(onnx_path, load_external_data=False)
    graph = model.graph
    head = next(n for n in graph.node if n.op_type == "MatMulNBits" and n.output[0].startswith("lm_head"))
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array([-1], np.int64), "last_position_start"),
            numpy_helper.from_array(np.array([np.iinfo(np.int64).max], np.int64), "last_position_end"),
            numpy_helper.from_array(np.array([1], np.int64), "last_position_axis"),
        ]
    )
    take_last = helper.make_node(
        "Slice",
        [head.input[0], "last_position_start", "last_position_end", "last_position_axis"],
        ["last_position_hidden"],
        name="last_position",
    )
    graph.node.insert(list(graph.node).index(head), take_last)
    head.input[0] = "last_position_hidden"
    logits = next(o for o in graph.output if o.name == "logits")
    logits.type.tensor_type.shape.dim[1].ClearField("dim_param")
    logits.type.tensor_type.shape.dim[1].dim_value = 1
    onnx.save_model(model, out_path)


def convert(gguf_path, out_dir, precision, layout, quiet):
    def progress(done, total):
        if not quiet:
            print(f"progress {done}/{total}", file=sys.stderr, flush=True)

    fields, tensors = read_gguf(gguf_path)
    with open(gguf_path, "rb") as fh:
        source_sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
    model, hp, vocab_size = build_model(fields, tensors, precision, layout, progress)
    onnx_dir = os.path.join(out_dir, "onnx") if layout == "optimum" else out_dir
    os.makedirs(onnx_dir, exist_ok=True)
    onnx.save_model(
        model,
        os.path.join(onnx_dir, "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx_data" if layout == "optimum" else "model.onnx.data",
        size_threshold=1024,
    )
    write_last_logits_variant(os.path.join(onnx_dir, "model.onnx"), os.path.join(onnx_dir, LAST_LOGITS_FILE))
    tok, added = build_tokenizer(fields)
    files = {
        "tokenizer.json": tok,
        "tokenizer_config.json": tokenizer_config(fields, added, hp["context"]),
        **(
            optimum_config(fields, hp, vocab_size)
            if layout == "optimum"
            else {"genai_config.json": genai_config(fields, hp, vocab_size, precision)}
        ),
        "precis_model.json": {
            "converter_version": CONVERTER_VERSION,
            "source": os.path.basename(gguf_path),
            # Part of the folder's identity (precis hashes this file): two GGUFs
            # of one name and size never share cached answers.
            "source_sha256": source_sha256,
            "source_name": fields.get("general.name"),
            "precision": precision,
            "layout": layout,
        },
    }
    for name, content in files.items():
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as fh:
            json.dump(content, fh, ensure_ascii=False, indent=1 if name != "tokenizer.json" else None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--precision", choices=sorted(PRECISIONS), default="int8")
    parser.add_argument(
        "--layout",
        choices=["genai", "optimum"],
        default="genai",
        help="genai: onnxruntime-genai folder with GroupQueryAttention; "
        "optimum: config.json + onnx/model.onnx with position_ids and plain attention ops",
    )
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    try:
        convert(args.gguf, args.out, args.precision, args.layout, args.quiet)
    except ConvertError as exc:
        fail(str(exc))
    except MemoryError:
        fail("out of memory while converting; close other programs or use a machine with more RAM")
    except OSError as exc:
        fail(f"cannot write the model folder ({exc.strerror or exc}); free disk space or choose another cache dir")


if __name__ == "__main__":
    main()
