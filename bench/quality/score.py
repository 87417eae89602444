#!/usr/bin/env python3
"""Extra metrics for `precis summarize --format json` outputs of the real changes, as a Markdown table.

usage: score.py CHANGES_DIR OUT_DIR [--json FILE]
  CHANGES_DIR holds NAME.patch and NAME.msg (from fetch.py); OUT_DIR holds NAME.json.
Per change and in total:
  files    changed files of the patch whose path is in the output's files[].path with a non-empty summary
  items    public items whose declaration line the patch adds, removes or changes, and how many of them
           the output names: in prose (title, overview, files[].summary) and with the computed facts
           (files[].symbols and any other facts fields) too
  words    overview words; median words of a file summary
  cut      texts (file summaries and the overview) that end mid-sentence
  wall, tokens in/out   from the output's stats
Word counts and the mid-sentence test are those of metrics.py beside this file.
"""
import argparse, importlib.util, json, os, re, statistics, sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


sys.path.insert(0, str(HERE))
import metrics as qs  # noqa: E402  (the project's own metric definitions)


# ---------------------------------------------------------------- public items of a patch

IDENT = r'([A-Za-z_$][\w$]*)'
RUST = [re.compile(r'^\s*pub\s+(?:(?:const|async|unsafe|default)\s+)*(?:extern\s+"[^"]*"\s+)?fn\s+' + IDENT),
        re.compile(r'^\s*pub\s+(?:struct|enum|trait|const|static|type|mod|union)\s+(?:mut\s+)?' + IDENT),
        re.compile(r'^\s*pub\s+unsafe\s+trait\s+' + IDENT)]
PYTHON = [re.compile(r'^(?:async\s+)?def\s+([A-Za-z]\w*)'), re.compile(r'^class\s+([A-Za-z]\w*)')]
JS_DECL = re.compile(r'^\s*export\s+(?:default\s+)?(?:declare\s+)?(?:abstract\s+)?(?:async\s+)?'
                     r'(?:function\s*\*?|class|const|let|var|interface|type|enum|namespace)\s*' + IDENT)
JS_LIST = re.compile(r'^\s*export\s+(?:type\s+)?\{([^}]*)\}')
JS_CJS = re.compile(r'^\s*(?:module\.)?exports\.' + IDENT + r'\s*=')
GO = [re.compile(r'^func\s+(?:\([^)]*\)\s*)?([A-Z]\w*)'), re.compile(r'^(?:type|var|const)\s+([A-Z]\w*)')]
JAVA = [re.compile(r'\bpublic\s+(?:(?:static|final|abstract|sealed|synchronized|default|native)\s+)*'
                   r'(?:class|interface|enum|record|@interface)\s+' + IDENT),
        re.compile(r'\bpublic\s+(?:(?:static|final|abstract|synchronized|default|native)\s+)*'
                   r'(?:<[^>]*>\s+)?[\w.<>\[\],?]+(?:\s*\[\])*\s+' + IDENT + r'\s*\(')]
KOTLIN = re.compile(r'^\s*(?:(?:public|open|abstract|data|sealed|inline|suspend|override|enum|annotation|value)\s+)*'
                    r'(?:fun|class|interface|object|val|var|typealias)\s+(?:<[^>]*>\s*)?(?:[\w.]+\.)?' + IDENT)
KOTLIN_HIDDEN = re.compile(r'^\s*(?:\w+\s+)*(?:private|internal|protected)\b')

LANG = {'.rs': 'rust', '.py': 'python', '.pyi': 'python', '.go': 'go', '.java': 'java', '.kt': 'kotlin', '.kts': 'kotlin'}
for ext in ('.js', '.mjs', '.cjs', '.jsx', '.ts', '.mts', '.cts', '.tsx'):
    LANG[ext] = 'js'


def declared(lang, line):
    """Public names a source line declares."""
    if lang == 'rust':
        return [m.group(1) for r in RUST if (m := r.match(line))][:1]
    if lang == 'python':
        return [m.group(1) for r in PYTHON if (m := r.match(line)) and not m.group(1).startswith('_')]
    if lang == 'js':
        if m := JS_DECL.match(line):
            return [m.group(1)]
        if m := JS_LIST.match(line):
            names = []
            for part in m.group(1).split(','):
                part = part.strip()
                if part:
                    name = re.split(r'\s+as\s+', part)[-1].strip()
                    if re.fullmatch(r'[A-Za-z_$][\w$]*', name) and name != 'default':
                        names.append(name)
            return names
        if m := JS_CJS.match(line):
            return [m.group(1)]
        return []
    if lang == 'go':
        return [m.group(1) for r in GO if (m := r.match(line))][:1]
    if lang == 'java':
        return [m.group(1) for r in JAVA if (m := r.search(line))][:1]
    if lang == 'kotlin':
        if KOTLIN_HIDDEN.match(line):
            return []
        m = KOTLIN.match(line)
        return [m.group(1)] if m else []
    return []


def patch_files(patch):
    """(path, old path) of each file of a unified diff, in order."""
    files = []
    for line in patch.splitlines():
        m = re.match(r'diff --git a/(.+?) b/(.+)$', line)
        if m:
            files.append((m.group(2), m.group(1)))
    return files


NOT_API = re.compile(r'(^|/)(tests?|testing|__tests__|spec|examples?|benches|benchmarks?)/|(^|/)test_[^/]*$|'
                     r'_test\.(go|py)$|\.(test|spec)\.[cm]?[jt]sx?$|(^|/)conftest\.py$')


def public_items(patch):
    """Public names whose declaration is on an added or removed line (tests and examples are no API)."""
    items, lang = {}, None
    for line in patch.splitlines():
        if line.startswith('diff --git '):
            path = line.rsplit(' b/', 1)[-1]
            lang = None if NOT_API.search(path) else LANG.get(Path(path).suffix.lower())
            continue
        if lang is None or line.startswith(('+++ ', '--- ')) or not line[:1] in '+-':
            continue
        for name in declared(lang, line[1:]):
            items.setdefault(name, lang)
    return sorted(items)


# ---------------------------------------------------------------- the output's text

FACT_KEYS = {'symbols', 'facts', 'items', 'public_items', 'api', 'exports', 'definitions'}


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def facts(value):
    """Strings under computed-facts keys anywhere in the output (not the model's prose)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in FACT_KEYS:
                yield from strings(v)
            elif k != 'chunks':
                yield from facts(v)
    elif isinstance(value, list):
        for v in value:
            yield from facts(v)


def named(name, text):
    return re.search(r'(?<![\w$])' + re.escape(name) + r'(?![\w$])', text) is not None


def score_one(patch, out):
    files = patch_files(patch)
    summaries = {}
    for f in out.get('files', []):
        s = (f.get('summary') or '').strip()
        for p in (f.get('path'), f.get('old_path')):
            if p and s:
                summaries[p] = s
    covered_files = sum(1 for new, old in files if new in summaries or old in summaries)
    prose = '\n'.join([out.get('title') or '', out.get('overview') or ''] +
                      [f.get('summary') or '' for f in out.get('files', [])])
    with_facts = prose + '\n' + '\n'.join(facts(out))
    items = public_items(patch)
    in_prose = [n for n in items if named(n, prose)]
    in_all = [n for n in items if named(n, with_facts)]
    file_texts = [f.get('summary') or '' for f in out.get('files', [])]
    overview = out.get('overview') or ''
    stats = out.get('stats') or {}
    return dict(files=len(files), files_covered=covered_files, items=len(items), items_prose=len(in_prose),
                items_all=len(in_all), missed=[n for n in items if n not in in_all],
                overview_words=qs.word_count(overview), file_words=[qs.word_count(t) for t in file_texts],
                cuts=sum(qs.is_cut(t) for t in file_texts) + (1 if qs.is_cut(overview) else 0),
                texts=len(file_texts) + (1 if overview.strip() else 0),
                wall=stats.get('wall_s'), tokens_in=stats.get('tokens_in'), tokens_out=stats.get('tokens_out'))


def pct(a, b):
    return f"{100.0 * a / b:.0f}%" if b else '-'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('changes')
    ap.add_argument('outs')
    ap.add_argument('--json', help='also write the per-change rows here')
    args = ap.parse_args()
    rows = []
    for patch_file in sorted(Path(args.changes).glob('*.patch')):
        name = patch_file.stem
        js = Path(args.outs) / f'{name}.json'
        if not js.exists():
            rows.append(dict(name=name, failed=True))
            continue
        try:
            out = json.loads(js.read_text())
        except json.JSONDecodeError as e:
            rows.append(dict(name=name, failed=True, error=str(e)))
            continue
        rows.append(dict(name=name, failed=False, **score_one(patch_file.read_text(errors='replace'), out)))
    if not rows:
        raise SystemExit(f"no NAME.patch in {args.changes}")

    print('| change | files covered | items in prose | items with facts | overview words | file words (median) '
          '| cut | wall s | tokens in/out | items not named |')
    print('|---|--:|--:|--:|--:|--:|--:|--:|--:|---|')
    for r in rows:
        if r['failed']:
            print(f"| {r['name']} | FAILED | | | | | | | | |")
            continue
        med = statistics.median(r['file_words']) if r['file_words'] else 0
        wall = '-' if r['wall'] is None else f"{r['wall']:.1f}"
        tok = '-' if r['tokens_in'] is None else f"{r['tokens_in']}/{r['tokens_out']}"
        print(f"| {r['name']} | {r['files_covered']}/{r['files']} | {r['items_prose']}/{r['items']} | "
              f"{r['items_all']}/{r['items']} | {r['overview_words']} | {med:g} | {r['cuts']}/{r['texts']} | {wall} | {tok} | "
              f"{', '.join(r['missed'][:5])}{' …' if len(r['missed']) > 5 else ''} |")
    good = [r for r in rows if not r['failed']]
    if good:
        f_tot, f_cov = sum(r['files'] for r in good), sum(r['files_covered'] for r in good)
        i_tot = sum(r['items'] for r in good)
        i_pro, i_all = sum(r['items_prose'] for r in good), sum(r['items_all'] for r in good)
        ow = statistics.median([r['overview_words'] for r in good])
        fw_all = [w for r in good for w in r['file_words']]
        fw = statistics.median(fw_all) if fw_all else 0
        cuts, texts = sum(r['cuts'] for r in good), sum(r['texts'] for r in good)
        walls = [r['wall'] for r in good if r['wall'] is not None]
        t_in = sum(r['tokens_in'] or 0 for r in good)
        t_out = sum(r['tokens_out'] or 0 for r in good)
        print(f"| **total ({len(good)} of {len(rows)})** | {f_cov}/{f_tot} ({pct(f_cov, f_tot)}) | {i_pro}/{i_tot} ({pct(i_pro, i_tot)}) | "
              f"{i_all}/{i_tot} ({pct(i_all, i_tot)}) | {ow:g} (median) | {fw:g} | {cuts}/{texts} | "
              f"{sum(walls):.0f} | {t_in}/{t_out} | |")
    failed = len(rows) - len(good)
    print(f"\n{len(rows)} changes, {failed} without output")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == '__main__':
    main()
