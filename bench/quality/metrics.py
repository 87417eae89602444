#!/usr/bin/env python3
"""The quality benchmark's automatic metrics, carried by the project (no file outside the repository).

usage: metrics.py CHANGES_DIR OUT_DIR [--labels FILE] [--unlabelled FILE] [--support]
  CHANGES_DIR holds NAME.patch and NAME.msg (the reference: its first line is the subject);
  OUT_DIR holds NAME.json from `precis summarize --patch CHANGES_DIR/NAME.patch --format json`.

Per change and in total (the definitions the hidden set of real commits is scored with):
  grounding  share of the code-like names written in the title, overview and file summaries
             (`backticked` identifiers, bare snake_case and CamelCase words) that occur in the patch
             (a dotted or `::` name also counts when its last part, 3+ characters, occurs)
  cuts       file summaries that end mid-sentence
  words      title + overview words; words of each file summary (median reported)
  recall     share of the subject's content words (4+ letters, not stop words, prefixes such as
             `feat(x):` and `[tag]` and `(#123)` removed) found in the title and overview
With --labels (JSON Lines: {"change", "sentence", "label", "why"} rows, label S true and specific,
V vacuous, P partly wrong, W wrong; and {"change", "top", "main_point": "yes"|"no", "why"} rows
saying whether the title and overview carry the reference's main point), the sentences shown are
matched by their exact text, and counted apart by who wrote them (the output's `claims`):
  model      precision S / labelled;  wrong (P + W) / labelled;  vacuous V / labelled
  computed   S/V/P/W, and P + W per change (the computed errors)
  main point share of the labelled changes whose title + overview carry it
  the author's words are not judged; unlabelled sentences and tops are counted and, with
  --unlabelled FILE, written there to be labelled.
Exit status 0 when every goal of the last line is met.
"""
import argparse
import json
import re
import statistics
import sys
from pathlib import Path

# Words too common in subjects to say what a change is about.
STOP_WORDS = frozenset("""
with from into that this when then than they them their there what which while where have has been were will
would could should about after before under over only also just more most some such each other these those your
ours test tests adds added support update updated change changes fix fixes make made instead first second half
file files code
""".split())

# Product names written in CamelCase that a reader takes as words, not code.
PLAIN_WORDS = frozenset("""GitHub GitLab JavaScript TypeScript macOS iOS PyPI OpenSSL PostgreSQL MySQL SQLite
WebSocket OAuth NuGet npm YouTube DevOps README""".split())

BACKTICKED = re.compile(r"`([^`\n]{1,80})`")
IDENTIFIER = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")
NAME_CHARS = re.compile(r"[\w.:/\-$]+")
SENTENCE_END = re.compile(r"[.!?)`\"\]]$")
SUBJECT_TAG = re.compile(r"^\[[^\]]*\]\s*")
SUBJECT_SCOPE = re.compile(r"^[\w/,-]+(\([^)]*\))?!?:\s*")
PR_NUMBER = re.compile(r"\(#\d+\)")
SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z`(\"'])")
LABELS = ("S", "V", "P", "W")


def code_names(text):
    """The names a reader of `text` takes as code."""
    found = set()
    for span in BACKTICKED.findall(text):
        name = span.strip().rstrip("()").rstrip(",.;:")
        if NAME_CHARS.fullmatch(name):
            found.add(name)
    prose = BACKTICKED.sub(" ", text)
    for word in IDENTIFIER.findall(prose):
        if word in PLAIN_WORDS:
            continue
        if "_" in word.strip("_") or re.search(r"[a-z][A-Z]", word):
            found.add(word)
    return found


def grounded(name, patch):
    if name in patch:
        return True
    last = re.split(r"::|\.|/", name)[-1]
    return len(last) >= 3 and last in patch


def is_cut(text):
    text = text.strip()
    return bool(text) and not SENTENCE_END.search(text)


def word_count(text):
    return len(text.split())


def subject_words(message):
    subject = message.splitlines()[0] if message else ""
    subject = SUBJECT_TAG.sub("", subject)
    subject = SUBJECT_SCOPE.sub("", subject)
    subject = PR_NUMBER.sub("", subject)
    words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]+", subject)}
    return {w for w in words if len(w) >= 4 and w not in STOP_WORDS}


def sentences(text):
    """Sentences of a summary text, as a reader counts them (one per line of a list too)."""
    out = []
    for line in text.splitlines():
        line = line.strip().lstrip("-*").strip()
        if line:
            out.extend(s.strip() for s in SENTENCE_SPLIT.split(line) if s.strip())
    return out


def shown_sentences(summary):
    """(where, sentence, origin) for every sentence the summary shows.

    Uses the output's own record of who wrote what (`claims`, each with `where`, `text` and
    `origin`: model, computed or author); for older outputs, the title when `title_from` is model,
    the overview, and the file summaries whose `summary_from` is model, all as the model's."""
    claims = summary.get("claims")
    if isinstance(claims, list):
        return [(c.get("where", ""), c.get("text", ""), c.get("origin", "")) for c in claims]
    shown = []
    if summary.get("title_from") == "model":
        shown.append(("title", summary.get("title") or "", "model"))
    shown.extend(("overview", s, "model") for s in sentences(summary.get("overview") or ""))
    for file in summary.get("files", []):
        if file.get("summary_from") == "model":
            shown.extend((file.get("path", ""), s, "model") for s in sentences(file.get("summary") or ""))
    return shown


def top_text(summary):
    """The title and the overview, as a reader reads them first."""
    return f"{summary.get('title') or ''}\n{summary.get('overview') or ''}".strip()


def load_labels(path):
    """Sentence labels by (change, sentence), and main-point verdicts by (change, title + overview)."""
    labels, main_points = {}, {}
    if not path:
        return labels, main_points
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if "top" in row:
            if row.get("main_point") not in ("yes", "no"):
                raise SystemExit(f"{path}:{number}: main_point must be yes or no")
            main_points[(row["change"], row["top"].strip())] = row["main_point"] == "yes"
            continue
        if row.get("label") not in LABELS:
            raise SystemExit(f"{path}:{number}: label must be one of {', '.join(LABELS)}")
        labels[(row["change"], row["sentence"].strip())] = row["label"]
    return labels, main_points


def score_change(name, patch, message, summary, labels):
    top = f"{summary.get('title') or ''}\n{summary.get('overview') or ''}"
    file_texts = [f.get("summary") or "" for f in summary.get("files", [])]
    names = set()
    for text in [top, *file_texts]:
        names |= code_names(text)
    kept = {n for n in names if grounded(n, patch)}
    wanted = subject_words(message)
    lower = top.lower()
    labels, main_points = labels
    counts = dict.fromkeys(LABELS, 0)
    computed = dict.fromkeys(LABELS, 0)
    unlabelled = []
    for where, sentence, origin in shown_sentences(summary):
        if origin == "author":
            continue  # the author's own words are reported as theirs, not judged
        label = labels.get((name, sentence.strip()))
        if label:
            (computed if origin == "computed" else counts)[label] += 1
        else:
            unlabelled.append({"change": name, "where": where, "origin": origin, "sentence": sentence.strip()})
    main_point = main_points.get((name, top_text(summary)))
    if main_point is None:
        unlabelled.append({"change": name, "top": top_text(summary)})
    return {
        "name": name,
        "names": len(names),
        "grounded": len(kept),
        "ungrounded": sorted(names - kept)[:6],
        "cuts": sum(is_cut(t) for t in file_texts),
        "files": len(file_texts),
        "top_words": word_count(top),
        "file_words": [word_count(t) for t in file_texts],
        "recall": sum(w in lower for w in wanted) / len(wanted) if wanted else None,
        "labels": counts,
        "computed": computed,
        "main_point": main_point,
        "unlabelled": unlabelled,
        "dropped": len(summary.get("dropped", [])),
        "wall_s": summary.get("stats", {}).get("wall_s"),
    }


def supports(name, summary, labels):
    """(support, label) of each model file sentence the model was asked about: kept ones from
    `claims`, dropped ones from `dropped` (reason `doubted`); unlabelled ones are left out."""
    rows = [(c.get("support"), c.get("text", "")) for c in summary.get("claims", []) if c.get("origin") == "model"]
    rows += [(d.get("support"), d.get("sentence", "")) for d in summary.get("dropped", []) if d.get("reason") == "doubted"]
    return [(p, labels[(name, text.strip())]) for p, text in rows if p is not None and (name, text.strip()) in labels]


def support_table(pairs):
    """How the model's own yes/no check would sort labelled sentences at each threshold."""
    bad = sum(1 for _, label in pairs if label in ("P", "W"))
    print(f"self-check on {len(pairs)} labelled file sentences ({bad} partly wrong or wrong):")
    print(f"{'threshold':>9} {'dropped':>8} {'of them P/W':>12} {'P/W caught':>11} {'S lost':>7} {'wrong left':>11}")
    for threshold in (0.0, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7):
        dropped = [label for p, label in pairs if p < threshold]
        caught = sum(1 for label in dropped if label in ("P", "W"))
        lost = sum(1 for label in dropped if label == "S")
        left = len(pairs) - len(dropped)
        print(f"{threshold:>9.2f} {len(dropped):>8} {share(caught, len(dropped)):>11.0f}% {share(caught, bad):>10.0f}%"
              f" {lost:>7} {share(bad - caught, left):>10.1f}%")


def share(part, whole):
    return 100.0 * part / whole if whole else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("changes")
    parser.add_argument("outputs")
    parser.add_argument("--labels", help="claim labels, JSON Lines")
    parser.add_argument("--unlabelled", help="write the sentences no label covers here, JSON Lines")
    parser.add_argument("--support", action="store_true",
                        help="also print how the model's self-check sorts the labelled file sentences")
    args = parser.parse_args()
    labels = load_labels(args.labels)
    rows, failed, pairs = [], [], []
    for patch_file in sorted(Path(args.changes).glob("*.patch")):
        name = patch_file.stem
        output = Path(args.outputs) / f"{name}.json"
        if not output.is_file():
            failed.append(name)
            continue
        message_file = patch_file.with_suffix(".msg")
        message = message_file.read_text(errors="replace") if message_file.is_file() else ""
        summary = json.loads(output.read_text())
        rows.append(score_change(name, patch_file.read_text(errors="replace"), message, summary, labels))
        pairs.extend(supports(name, summary, labels[0]))

    print(f"{'change':26} {'ground':>9} {'cuts':>6} {'top w':>6} {'file w':>7} {'recall':>6} {'S/V/P/W':>11}"
          "  ungrounded")
    for r in rows:
        median = statistics.median(r["file_words"]) if r["file_words"] else 0
        recall = "-" if r["recall"] is None else f"{r['recall']:.2f}"
        tally = "/".join(str(r["labels"][k] + r["computed"][k]) for k in LABELS)
        print(f"{r['name']:26} {r['grounded']:>4}/{r['names']:<4} {r['cuts']:>3}/{r['files']:<2} {r['top_words']:>6}"
              f" {median:>7} {recall:>6} {tally:>11}  {', '.join(r['ungrounded'])}")
    for name in failed:
        print(f"{name:26} FAILED (no output)")

    names = sum(r["names"] for r in rows)
    grounding = share(sum(r["grounded"] for r in rows), names) if names else 100.0
    cuts = sum(r["cuts"] for r in rows)
    files = sum(r["files"] for r in rows)
    top = statistics.median([r["top_words"] for r in rows]) if rows else 0
    file_words = [w for r in rows for w in r["file_words"]]
    file_median = statistics.median(file_words) if file_words else 0
    recalls = [r["recall"] for r in rows if r["recall"] is not None]
    recall = statistics.mean(recalls) if recalls else 0.0
    tally = {k: sum(r["labels"][k] for r in rows) for k in LABELS}
    labelled = sum(tally.values())
    unlabelled = [u for r in rows for u in r["unlabelled"]]
    dropped = sum(r["dropped"] for r in rows)
    if args.unlabelled:
        Path(args.unlabelled).write_text("".join(json.dumps(u) + "\n" for u in unlabelled))

    computed = {k: sum(r["computed"][k] for r in rows) for k in LABELS}
    computed_labelled = sum(computed.values())
    carried = [r["main_point"] for r in rows if r["main_point"] is not None]
    if labels[0] or labels[1]:
        print(f"model sentences: {labelled} labelled shown ({len(unlabelled)} sentences or tops unlabelled),"
              f" {dropped} dropped by the checks; precision {share(tally['S'], labelled):.1f}%,"
              f" wrong {share(tally['P'] + tally['W'], labelled):.1f}% (goal <=5), vacuous"
              f" {share(tally['V'], labelled):.1f}% (goal <=10)")
        errors = computed['P'] + computed['W']
        print(f"computed sentences: {computed_labelled} labelled shown, S/V/P/W"
              f" {'/'.join(str(computed[k]) for k in LABELS)}; errors per change"
              f" {errors / len(rows) if rows else 0:.2f} (goal <=0.2)")
        print(f"main point carried by title + overview: {sum(carried)} of {len(carried)} labelled"
              f" ({share(sum(carried), len(carried)):.0f}%, goal >=70)")
    if args.support:
        support_table(pairs)
    goals = (not failed and grounding >= 99 and cuts == 0 and top <= 100 and file_median <= 45 and recall >= 0.5)
    print(f"quality on {len(rows) + len(failed)} real changes: grounding {grounding:.1f}% (goal >=99), cut"
          f" mid-sentence {cuts}/{files} (goal 0), overview {top:.0f} words median (goal <=100), file summary"
          f" {file_median:.0f} words median (goal <=45), subject recall {recall:.2f} (goal >=0.5), failed {len(failed)}")
    sys.exit(0 if goals else 1)


if __name__ == "__main__":
    main()
