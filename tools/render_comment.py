#!/usr/bin/env python3
"""Renders a precis comment (Markdown, as GitHub receives it) to a PNG the way
a pull request shows it, for the docs: Markdown to HTML with the `markdown`
package (pip), GitHub's comment width and type, then a screenshot by headless
Chromium (Debian's `chromium`).

    python3 tools/render_comment.py docs/sample-comment.md docs/sample-comment.png [--height 1500]
"""

import argparse
import html
import pathlib
import shutil
import subprocess
import sys
import tempfile

try:
    import markdown
except ImportError:
    sys.exit("render_comment.py needs the markdown package: python3 -m pip install markdown")

STYLE = """
body { margin: 0; background: #fff; font: 14px/1.5 -apple-system, 'Segoe UI', 'Noto Sans', Helvetica, Arial, sans-serif; color: #1f2328; }
.comment { width: 880px; margin: 16px; border: 1px solid #d1d9e0; border-radius: 6px; }
.header { background: #f6f8fa; border-bottom: 1px solid #d1d9e0; padding: 8px 16px; color: #59636e; border-radius: 6px 6px 0 0; }
.header b { color: #1f2328; }
.body { padding: 8px 16px 16px; }
table { border-collapse: collapse; margin: 8px 0; display: block; overflow: auto; }
th, td { border: 1px solid #d1d9e0; padding: 6px 13px; vertical-align: top; }
th { background: #f6f8fa; }
tr:nth-child(2n) td { background: #f6f8fa; }
code { background: #eff1f3; border-radius: 6px; padding: .2em .4em; font: 85% ui-monospace, SFMono-Regular, Menlo, monospace; }
sub { color: #59636e; }
h1, h2, h3 { border-bottom: 1px solid #d1d9e0; padding-bottom: .3em; }
h3 { font-size: 1.1em; border: 0; }
details summary { cursor: pointer; }
"""


def commonmark_lists(text):
    """A blank line before a list that follows a paragraph: GitHub (CommonMark)
    starts the list there, Python-Markdown only after a blank line."""
    out = []
    for line in text.splitlines():
        if line.startswith("- ") and out and out[-1].strip() and not out[-1].startswith("- "):
            out.append("")
        out.append(line)
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("comment", type=pathlib.Path)
    parser.add_argument("png", type=pathlib.Path)
    parser.add_argument("--height", type=int, default=1500, help="window height in pixels (the picture's)")
    parser.add_argument("--author", default="precis[bot]")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or sys.exit("render_comment.py needs Debian's chromium: apt-get install chromium")
    # GitHub reads Markdown inside <details>; Python-Markdown where asked to.
    text = commonmark_lists(args.comment.read_text()).replace("<details>", '<details markdown="1">')
    body = markdown.markdown(text, extensions=["tables", "fenced_code", "md_in_html"])
    # As a reader who opened the folded parts sees it.
    body = body.replace("<details>", "<details open>")
    page = (
        f"<!doctype html><meta charset=utf-8><style>{STYLE}</style>"
        f"<div class=comment><div class=header><b>{html.escape(args.author)}</b> commented</div>"
        f"<div class=body>{body}</div></div>"
    )
    with tempfile.TemporaryDirectory() as work:
        page_path = pathlib.Path(work, "comment.html")
        page_path.write_text(page)
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={work}/profile", f"--screenshot={args.png.resolve()}",
             f"--window-size=914,{args.height}", page_path.as_uri()],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
