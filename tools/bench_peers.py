#!/usr/bin/env python3
"""Runs precis bench and the same batch-1 workload through its peers, in one run, and prints ratios.

Peers: onnxruntime-genai on the same ONNX folder, llama.cpp (llama-cpp-python) on
the same GGUF. Workload: a 512-token prompt (prefill), then 128 greedy tokens
(decode), same thread count. The runtimes take turns for --rounds rounds and
each keeps its best round, so that a noisy moment on a small machine does not
decide the ratio.

Usage: bench_peers.py --precis target/release/precis --folder MODEL_DIR --gguf FILE [--threads 2] [--rounds 3]
"""

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time

TEXT = "fn step_{i}(state: &mut State) -> Result<u32> {{ state.count += {i}; Ok(state.count) }}\n"


def code_text(tokens_wanted):
    return "".join(TEXT.format(i=i) for i in range(0, tokens_wanted * 2, 7))


def bench_genai(folder, threads, prompt_tokens, new_tokens):
    import onnxruntime_genai as og

    # Same folder, with the thread count pinned in a copy of genai_config.json.
    tmp = tempfile.mkdtemp()
    for name in os.listdir(folder):
        os.symlink(os.path.join(folder, name), os.path.join(tmp, name))
    os.remove(os.path.join(tmp, "genai_config.json"))
    with open(os.path.join(folder, "genai_config.json")) as fh:
        config = json.load(fh)
    config["model"]["decoder"]["session_options"]["intra_op_num_threads"] = threads
    with open(os.path.join(tmp, "genai_config.json"), "w") as fh:
        json.dump(config, fh)
    model = og.Model(tmp)
    tokenizer = og.Tokenizer(model)
    ids = tokenizer.encode(code_text(prompt_tokens))[:prompt_tokens]

    def run(n_prompt, n_new):
        params = og.GeneratorParams(model)
        total = n_prompt + n_new
        params.set_search_options(max_length=total, min_length=total, do_sample=False)
        gen = og.Generator(model, params)
        t0 = time.perf_counter()
        gen.append_tokens(ids[:n_prompt])
        gen.generate_next_token()
        t1 = time.perf_counter()
        steps = 0
        while not gen.is_done():
            gen.generate_next_token()
            steps += 1
        t2 = time.perf_counter()
        return n_prompt / (t1 - t0), steps / (t2 - t1)

    run(16, 4)  # warm-up
    result = run(prompt_tokens, new_tokens)
    shutil.rmtree(tmp)
    return result


def bench_llamacpp(gguf, threads, prompt_tokens, new_tokens):
    import llama_cpp

    llm = llama_cpp.Llama(
        model_path=gguf, n_ctx=prompt_tokens + new_tokens + 8, n_batch=512, n_threads=threads, verbose=False
    )
    ids = llm.tokenize(code_text(prompt_tokens).encode(), add_bos=False)[:prompt_tokens]
    llm.eval(ids[:16])  # warm-up
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(ids)
    t1 = time.perf_counter()
    for _ in range(new_tokens):
        tok = llm.sample(top_k=1, temp=0.0)
        llm.eval([tok])
    t2 = time.perf_counter()
    return prompt_tokens / (t1 - t0), new_tokens / (t2 - t1)


def bench_precis(binary, folder, threads):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.json")
        subprocess.run(
            [binary, "bench", "--model", folder, "--threads", str(threads), "--json", out],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        with open(out) as fh:
            return json.load(fh)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--precis", required=True, help="the precis binary")
    parser.add_argument("--folder", required=True)
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    best = {"precis": (0, 0), "onnxruntime-genai": (0, 0), "llama.cpp": (0, 0)}
    ours = None
    for _ in range(args.rounds):
        report = bench_precis(args.precis, args.folder, args.threads)
        if ours is None or report["decode_tokens_per_s"] > ours["decode_tokens_per_s"]:
            ours = report
        p, n = report["prompt_tokens"], report["new_tokens"]
        runs = {
            "precis": (report["prefill_tokens_per_s"], report["decode_tokens_per_s"]),
            "onnxruntime-genai": bench_genai(args.folder, args.threads, p, n),
            "llama.cpp": bench_llamacpp(args.gguf, args.threads, p, n),
        }
        for name, (pre, dec) in runs.items():
            best[name] = (max(best[name][0], pre), max(best[name][1], dec))
    p, n = ours["prompt_tokens"], ours["new_tokens"]
    mine = best["precis"]
    print(f"best of {args.rounds} rounds, {args.threads} threads")
    print(f"| runtime | prefill tok/s ({p}) | decode tok/s ({n}) | precis/peer prefill | precis/peer decode |")
    print("| --- | --- | --- | --- | --- |")
    for name, (pre, dec) in best.items():
        print(f"| {name} | {pre:.1f} | {dec:.1f} | {mine[0] / pre:.2f}x | {mine[1] / dec:.2f}x |")
    print(
        f"precis, {ours['concurrency']} concurrent: {ours['concurrent_tokens_per_s']:.1f} tok/s "
        f"({ours['concurrency_gain']:.2f}x its batch-1 decode), peak RSS {ours['peak_rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
