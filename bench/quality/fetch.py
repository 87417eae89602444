#!/usr/bin/env python3
"""Fetches the pinned real changes of changes.toml and writes them as NAME.patch + NAME.msg.

Each change is two consecutive releases of one package, downloaded with the ecosystem's own
client (cargo fetch, pip download, npm pack), checked against the pinned sha256, unpacked, and
diffed old -> new with `git diff --no-index` (paths relative to the package root, a/... b/...).
Changelogs, package metadata, lockfiles, bundles, minified and binary files are left out of the
patch. NAME.msg is the changelog entry of the new version: a one-line subject, a blank line, the
entry as it stands in the package.

usage:
  fetch.py [--work DIR] [--out DIR] [--only NAME ...]   fetch and write all (or some) changes
  fetch.py --probe ECOSYSTEM PACKAGE OLD NEW [--exclude GLOB ...]
                                                        fetch any pair, print sizes, hashes and
                                                        the new version's changelog head (to pick
                                                        and pin a new change)
Work folder: --work, else $PRECIS_BENCH_QUALITY, else ~/.cache/precis/bench-quality. Archives
already there with the pinned hash are not downloaded again, so a second run works offline.
"""
import argparse, fnmatch, hashlib, os, re, shutil, subprocess, sys, tarfile, zipfile
try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        raise SystemExit("fetch.py needs Python 3.11+ (tomllib) or the tomli package")
from pathlib import Path, PurePosixPath

HERE = Path(__file__).resolve().parent

# Files that say what changed rather than being the change.
CHANGELOG = re.compile(r'^(change[-_ ]?log|changes|history|news|release[-_ ]?notes|releases|whats[-_]?new)'
                       r'([-_.][\w-]+)*?(\.(md|rst|txt|markdown|adoc|org))?$', re.I)
CHANGELOG_DIRS = {'changelog.d', 'changes.d', 'newsfragments', 'news', 'changelog', 'changes', '.changeset',
                  'whatsnew'}
CHANGELOG_DOCS = re.compile(r'(^|/)docs?/(.*/)?(change[-_ ]?log|changes|history|news|release[-_ ]?notes|'
                            r'releases|version[-_]?history|whats[-_]?new)(\.\w+)?$', re.I)
DOC_SUFFIXES = {'.md', '.rst', '.txt', '.markdown', '.adoc', '.org', '.asciidoc'}
CODE_SUFFIXES = {'.py', '.pyx', '.pxd', '.pyi', '.rs', '.js', '.mjs', '.cjs', '.jsx', '.ts', '.mts', '.cts', '.tsx',
                 '.c', '.h', '.cc', '.cpp', '.hpp', '.go', '.java', '.kt', '.rb', '.json', '.toml', '.yaml', '.yml'}
LOCKFILES = {'cargo.lock', 'package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock', 'pnpm-lock.yaml',
             'bun.lockb', 'bun.lock', 'poetry.lock', 'pipfile.lock', 'pdm.lock', 'uv.lock', 'composer.lock',
             'gemfile.lock', 'go.sum'}
METADATA = {'pkg-info', '.cargo_vcs_info.json', 'cargo.toml.orig'}
GENERATED_SUFFIXES = ('.min.js', '.min.mjs', '.min.cjs', '.min.css', '.map', '.pyc', '.pyo')


def excluded(rel, extra=()):
    """Why a path (relative to the package root) stays out of the patch, or None."""
    p = PurePosixPath(rel)
    low = rel.lower()
    name = p.name.lower()
    parts = [x.lower() for x in p.parts]
    suffix = p.suffix.lower()
    doc_like = suffix in DOC_SUFFIXES or not suffix or suffix[1:].isdigit() or suffix == '.x'
    code = suffix in CODE_SUFFIXES
    if doc_like and (CHANGELOG.match(name) or CHANGELOG_DOCS.search(rel)) or \
            not code and any(x in CHANGELOG_DIRS for x in parts[:-1]):
        return 'changelog'
    if name in LOCKFILES or name.startswith('cargo.lock'):
        return 'lockfile'
    if name in METADATA or any(x.endswith('.egg-info') or x.endswith('.dist-info') for x in parts[:-1]):
        return 'metadata'
    if 'dist' in parts[:-1] or low.endswith(GENERATED_SUFFIXES) or '__pycache__' in parts:
        return 'bundle'
    for g in extra:
        if fnmatch.fnmatchcase(rel, g):
            return 'excluded by entry'
    return None


def is_changelog(rel):
    return excluded(rel) == 'changelog'


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.file_digest(f, 'sha256').hexdigest()


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit(f"command failed ({r.returncode}): {' '.join(map(str, cmd))}\n{r.stdout[-2000:]}{r.stderr[-4000:]}")
    return r.stdout


def slug(package, version):
    return f"{package.replace('@', '').replace('/', '+')}-{version}"


# ---------------------------------------------------------------- downloads, one per ecosystem

def cargo_home():
    return Path(os.environ.get('CARGO_HOME') or Path.home() / '.cargo')


def cargo_cached(package, version):
    hits = sorted((cargo_home() / 'registry' / 'cache').glob(f'*/{package}-{version}.crate'))
    return hits[0] if hits else None


def download_cargo(package, version, dest, tmp):
    src = cargo_cached(package, version)
    if src is None:
        proj = tmp / 'cargo' / slug(package, version)
        (proj / 'src').mkdir(parents=True, exist_ok=True)
        (proj / 'src' / 'lib.rs').write_text('')
        (proj / 'Cargo.toml').write_text(
            '[package]\nname = "bench-quality-fetch"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n'
            f'[dependencies]\n{package} = "={version}"\n[workspace]\n')
        run(['cargo', 'fetch', '-q', '--manifest-path', str(proj / 'Cargo.toml')])
        src = cargo_cached(package, version)
        if src is None:
            raise SystemExit(f"cargo fetch ran but {package}-{version}.crate is not in {cargo_home()}/registry/cache")
    shutil.copyfile(src, dest / src.name)


def download_pypi(package, version, dest, tmp):
    run([sys.executable, '-m', 'pip', 'download', '--no-deps', '--no-binary', ':all:', '--disable-pip-version-check',
         '-q', '-d', str(dest), f'{package}=={version}'])


def download_npm(package, version, dest, tmp):
    run(['npm', 'pack', f'{package}@{version}', '--pack-destination', str(dest), '--ignore-scripts', '--silent'],
        cwd=dest)


DOWNLOAD = {'cargo': download_cargo, 'pypi': download_pypi, 'npm': download_npm}
ARCHIVE = re.compile(r'\.(crate|tgz|tar\.gz|tar\.bz2|tar\.xz|zip)$')


def archive(work, eco, package, version, pinned=None):
    """The archive of one release in the work folder, downloaded only when it is not there yet."""
    dest = work / 'archives' / eco / slug(package, version)
    files = sorted(f for f in dest.glob('*') if ARCHIVE.search(f.name)) if dest.is_dir() else []
    if not files:
        tmp = work / 'tmp'
        part = dest.with_name(dest.name + '.part')
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True)
        print(f"  download {eco} {package} {version}", file=sys.stderr)
        DOWNLOAD[eco](package, version, part, tmp)
        files = sorted(f for f in part.glob('*') if ARCHIVE.search(f.name))
        if len(files) != 1:
            raise SystemExit(f"expected one archive for {package} {version}, got {[f.name for f in part.glob('*')]}")
        shutil.rmtree(dest, ignore_errors=True)
        part.rename(dest)
        files = sorted(f for f in dest.glob('*') if ARCHIVE.search(f.name))
    if len(files) != 1:
        raise SystemExit(f"{dest}: expected one archive, found {[f.name for f in files]}")
    got = sha256(files[0])
    if pinned is not None and got != pinned:
        raise SystemExit(f"HASH MISMATCH for {eco} {package} {version}: {files[0]}\n  pinned {pinned}\n  got    {got}\n"
                         f"Not using it: the pin is wrong, or the registry or the work folder holds other bytes than were "
                         f"pinned (delete {dest} to download it again).")
    return files[0], got


# ---------------------------------------------------------------- unpacking

def members(path):
    """(relative path, bytes) of each regular file of an archive."""
    if path.name.endswith('.zip'):
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not info.is_dir():
                    yield info.filename, z.read(info)
        return
    with tarfile.open(path, 'r:*') as t:
        for m in t:
            if m.isfile():
                yield m.name, t.extractfile(m).read()


def unpack(archive_path, into):
    """Unpacks once (a marker says it is done), dropping the archive's single top folder."""
    marker = into / '.unpacked'
    if marker.exists() and marker.read_text() == archive_path.name:
        return into / 'root'
    shutil.rmtree(into, ignore_errors=True)
    items = [(n.lstrip('./'), data) for n, data in members(archive_path)]
    tops = {n.split('/', 1)[0] for n, _ in items}
    strip = len(tops) == 1 and all('/' in n for n, _ in items)
    root = into / 'root'
    for n, data in items:
        rel = n.split('/', 1)[1] if strip else n
        parts = PurePosixPath(rel).parts
        if not parts or '..' in parts or rel.startswith('/'):
            continue
        target = root.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    root.mkdir(parents=True, exist_ok=True)
    marker.write_text(archive_path.name)
    return root


def tree(root):
    return {p.relative_to(root).as_posix(): p for p in root.rglob('*') if p.is_file()}


def is_text(data):
    if b'\0' in data[:8192]:
        return False
    try:
        data.decode('utf-8')
        return True
    except UnicodeDecodeError:
        return False


# ---------------------------------------------------------------- the diff

def make_patch(old_root, new_root, stage, extra_exclude=()):
    """Unified diff old -> new of the files that stay in; returns (patch text, left-out paths by reason)."""
    shutil.rmtree(stage, ignore_errors=True)
    left_out = {}
    for side, root in (('a', old_root), ('b', new_root)):
        for rel, path in sorted(tree(root).items()):
            why = excluded(rel, extra_exclude)
            data = path.read_bytes()
            if why is None and not is_text(data):
                why = 'binary'
            if why:
                left_out.setdefault(why, set()).add(rel)
                continue
            target = stage / side / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            target.chmod(0o644)
        (stage / side).mkdir(parents=True, exist_ok=True)
    r = subprocess.run(['git', '-c', 'core.quotepath=false', '-c', 'diff.noprefix=false', '-c', 'diff.mnemonicprefix=false',
                        '-c', 'diff.algorithm=myers', '-c', 'diff.relative=false', 'diff', '--no-index', '--no-color',
                        '--no-ext-diff', '--no-textconv', '--no-prefix', '-M', 'a', 'b'],
                       cwd=stage, capture_output=True, env={**os.environ, 'GIT_CONFIG_NOSYSTEM': '1', 'GIT_CONFIG_GLOBAL': os.devnull})
    if r.returncode not in (0, 1):
        raise SystemExit(f"git diff failed in {stage}: {r.stderr.decode(errors='replace')}")
    shutil.rmtree(stage, ignore_errors=True)
    return canonical(r.stdout.decode('utf-8')), {k: sorted(v) for k, v in left_out.items()}


def canonical(raw):
    """`--no-prefix` on folders a/ and b/ names paths a/x, b/x; make the headers read like a repository's diff."""
    out = []
    for line in raw.splitlines(keepends=True):
        m = re.match(r'diff --git ([ab])/(\S+) ([ab])/(\S+)(\r?\n)$', line)
        if m:
            line = f'diff --git a/{m.group(2)} b/{m.group(4)}{m.group(5)}'
        elif line.startswith('rename from a/'):
            line = 'rename from ' + line[len('rename from a/'):]
        elif line.startswith('rename to b/'):
            line = 'rename to ' + line[len('rename to b/'):]
        out.append(line)
    return ''.join(out)


def patch_stats(patch):
    files, plus, minus = [], 0, 0
    for line in patch.splitlines():
        if line.startswith('diff --git '):
            files.append(line.split(' b/', 1)[1] if ' b/' in line else line)
        elif line.startswith('+') and not line.startswith('+++ '):
            plus += 1
        elif line.startswith('-') and not line.startswith('--- '):
            minus += 1
    return files, plus, minus


def norm(s):
    return re.sub(r'\s+', ' ', s).strip()


def entry_found(root, entry):
    """Whether each line of the pinned entry is in one of the new version's changelog files."""
    text = ''
    for rel, path in tree(root).items():
        if is_changelog(rel):
            text += '\n' + path.read_text(errors='replace')
    have = {norm(l) for l in text.splitlines()}
    missing = [l for l in entry.splitlines() if norm(l) and norm(l) not in have]
    return missing


# ---------------------------------------------------------------- commands

def load(path):
    with open(path, 'rb') as f:
        data = tomllib.load(f)
    changes = data['change']
    names = [c['name'] for c in changes]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise SystemExit(f"duplicate change names: {sorted(dup)}")
    for c in changes:
        for key in ('name', 'language', 'ecosystem', 'package', 'old', 'new', 'old_sha256', 'new_sha256', 'subject', 'entry'):
            if not c.get(key):
                raise SystemExit(f"change {c.get('name')!r}: missing {key}")
        if '\n' in c['subject']:
            raise SystemExit(f"change {c['name']}: subject must be one line")
    return changes


def fetch_all(args):
    work = Path(args.work).expanduser()
    out = Path(args.out).expanduser() if args.out else work / 'changes'
    out.mkdir(parents=True, exist_ok=True)
    changes = load(args.changes)
    if args.only:
        unknown = set(args.only) - {c['name'] for c in changes}
        if unknown:
            raise SystemExit(f"no such change: {sorted(unknown)}")
        changes = [c for c in changes if c['name'] in args.only]
    rows, problems = [], []
    for c in changes:
        roots = []
        for side in ('old', 'new'):
            path, _ = archive(work, c['ecosystem'], c['package'], c[side], c[f'{side}_sha256'])
            roots.append(unpack(path, work / 'trees' / c['ecosystem'] / slug(c['package'], c[side])))
        patch, _ = make_patch(roots[0], roots[1], work / 'stage' / c['name'], c.get('exclude', []))
        (out / f"{c['name']}.patch").write_text(patch)
        (out / f"{c['name']}.msg").write_text(f"{c['subject']}\n\n{c['entry'].strip()}\n")
        files, plus, minus = patch_stats(patch)
        rows.append((c['name'], c['language'], c['ecosystem'], f"{c['package']} {c['old']} -> {c['new']}", len(files), plus, minus))
        if not files or not (1 <= len(files) <= args.max_files) or not (args.min_lines <= plus + minus <= args.max_lines):
            problems.append(f"{c['name']}: {len(files)} file(s), {plus + minus} changed lines, outside the set's range")
        missing = entry_found(roots[1], c['entry'])
        if missing:
            problems.append(f"{c['name']}: entry lines not in the package's changelog: {missing[:2]}")
    print(f"| change | language | ecosystem | release | files | + | - |\n|---|---|---|---|--:|--:|--:|")
    for r in rows:
        print('| ' + ' | '.join(map(str, r)) + ' |')
    langs = sorted({r[1] for r in rows})
    print(f"\n{len(rows)} changes in {len(langs)} languages ({', '.join(langs)}): "
          f"{sum(r[4] for r in rows)} files, +{sum(r[5] for r in rows)} -{sum(r[6] for r in rows)} lines; written to {out}")
    for p in problems:
        print(f"WARNING {p}", file=sys.stderr)
    if problems and args.strict:
        sys.exit(1)


def probe(args):
    work = Path(args.work).expanduser()
    eco, package, old, new = args.probe
    roots, hashes = [], []
    for v in (old, new):
        path, h = archive(work, eco, package, v)
        hashes.append(h)
        roots.append(unpack(path, work / 'trees' / eco / slug(package, v)))
    patch, left_out = make_patch(roots[0], roots[1], work / 'stage' / f'probe-{slug(package, new)}', args.exclude)
    files, plus, minus = patch_stats(patch)
    print(f"== {eco} {package} {old} -> {new}: {len(files)} files +{plus} -{minus}")
    print(f"old_sha256 = \"{hashes[0]}\"\nnew_sha256 = \"{hashes[1]}\"")
    per = {}
    cur = None
    for line in patch.splitlines():
        if line.startswith('diff --git '):
            cur = line.split(' b/', 1)[1]; per[cur] = [0, 0]
        elif cur and line.startswith('+') and not line.startswith('+++ '):
            per[cur][0] += 1
        elif cur and line.startswith('-') and not line.startswith('--- '):
            per[cur][1] += 1
    for f, (p, m) in per.items():
        print(f"   {f}: +{p} -{m}")
    for why, paths in left_out.items():
        print(f"   left out ({why}): {len(paths)} path(s), e.g. {paths[:4]}")
    for rel, path in sorted(tree(roots[1]).items()):
        if is_changelog(rel):
            text = path.read_text(errors='replace').splitlines()
            idx = next((i for i, l in enumerate(text) if new in l), None)
            if idx is not None:
                print(f"-- {rel} (line {idx + 1}):")
                print('\n'.join(text[idx:idx + args.lines]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--changes', default=str(HERE / 'changes.toml'), help='the pinned list (default: changes.toml beside this script)')
    ap.add_argument('--work', default=os.environ.get('PRECIS_BENCH_QUALITY') or '~/.cache/precis/bench-quality')
    ap.add_argument('--out', help='where NAME.patch and NAME.msg go (default: WORK/changes)')
    ap.add_argument('--only', nargs='+', metavar='NAME')
    ap.add_argument('--strict', action='store_true', help='exit 1 when a change is outside the size range or its entry is not found')
    ap.add_argument('--min-lines', type=int, default=20)
    ap.add_argument('--max-lines', type=int, default=400)
    ap.add_argument('--max-files', type=int, default=8)
    ap.add_argument('--probe', nargs=4, metavar=('ECOSYSTEM', 'PACKAGE', 'OLD', 'NEW'))
    ap.add_argument('--exclude', action='append', default=[], metavar='GLOB', help='with --probe: leave these paths out too')
    ap.add_argument('--lines', type=int, default=25, help='with --probe: changelog lines to show')
    args = ap.parse_args()
    if args.probe:
        if args.probe[0] not in DOWNLOAD:
            raise SystemExit(f"ecosystem must be one of {sorted(DOWNLOAD)}")
        probe(args)
    else:
        fetch_all(args)


if __name__ == '__main__':
    main()
