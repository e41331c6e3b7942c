"""Sphinx extension of the book (loaded through `sphinx.local_extensions` in _config.yml).

sphinx-thebe 0.3.1 and sphinx-togglebutton add their inline configuration scripts again for each
page (at another priority), so every page declared `const THEBE_JS_URL` twice: a SyntaxError in the
browser console of every page. When the build is done, keep the first copy of each repeated inline
`<script>` line of the page heads.
"""
import re
from pathlib import Path

INLINE = re.compile(r"^\s*<script>.*</script>\s*$")


def _drop_repeated_inline_scripts(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        head, sep, body = text.partition("</head>")
        seen, kept = set(), []
        for line in head.splitlines(keepends=True):
            if INLINE.match(line):
                if line.strip() in seen:
                    continue
                seen.add(line.strip())
            kept.append(line)
        if len(kept) != len(head.splitlines()):
            page.write_text("".join(kept) + sep + body, encoding="utf-8")


def setup(app):
    app.connect("build-finished", _drop_repeated_inline_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
