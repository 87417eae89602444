#!/usr/bin/env python3
"""Conformance: the official runtime, onnxruntime-genai, loads a precis model
folder unchanged and greedy-generates coherent text for ChatML prompts.

Usage: check_genai.py MODEL_DIR [MODEL_DIR ...]   (needs: pip install onnxruntime-genai)
Exit status 1 when a folder fails to load or an answer misses its expected words.
"""

import sys

import onnxruntime_genai as og

# (question, words of which the answer must contain at least one)
CASES = [
    ("Write a Python function that reverses a string. Reply with code only.", ["def ", "[::-1]"]),
    ("What does the Rust keyword `fn` declare? Answer in one sentence.", ["function"]),
    ("Summarize: `git commit -m msg` records staged changes. One sentence.", ["commit", "change"]),
]


def check(folder):
    model = og.Model(folder)
    tokenizer = og.Tokenizer(model)
    ok = True
    for question, expected in CASES:
        prompt = f"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
        ids = tokenizer.encode(prompt)
        params = og.GeneratorParams(model)
        params.set_search_options(max_length=len(ids) + 48, do_sample=False)
        generator = og.Generator(model, params)
        generator.append_tokens(ids)
        out = []
        while not generator.is_done():
            generator.generate_next_token()
            out.append(int(generator.get_next_tokens()[0]))
        text = tokenizer.decode(out)
        passed = any(w.lower() in text.lower() for w in expected)
        ok &= passed
        print(f"{'ok  ' if passed else 'FAIL'} {folder}: {question!r} -> {text[:120]!r}")
    return ok


def main():
    results = [check(folder) for folder in sys.argv[1:]]
    if not results or not all(results):
        sys.exit(1)


if __name__ == "__main__":
    main()
