"""Escaping per output format, in one place: every user-supplied string is hostile.

Stage names, run ids, policy fields, waiver text and provider messages reach terminals, markdown
(PR comments, Prefect artifacts), HTML, CSV and GitHub workflow commands. Each format's renderer
passes them through the function for its context here, never raw, so a newline cannot start a
`::error::` workflow command, `<script>` cannot run in a comment, a `|` cannot break a table and an
escape sequence cannot rewrite a terminal.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, and the Unicode bidirectional overrides/isolates that can reorder what a
# reader sees ("Trojan Source", CVE-2021-42574), plus line/paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def text_safe(value: object) -> str:
    """One line of terminal text: every control character becomes a visible space."""
    return _CONTROL.sub(" ", str(value))


def text_block(value: object) -> str:
    """Several lines of terminal text: newlines kept, every other control character replaced."""
    return "\n".join(text_safe(line) for line in str(value).split("\n"))


def md_text(value: object) -> str:
    """Inline markdown text (also safe inside a table cell): no markup, no HTML, one line."""
    escaped = _MD_SPECIAL.sub(r"\\\1", text_safe(value))
    return escaped.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def md_code(value: object) -> str:
    """An identifier shown as inline code; escaped plain text when it holds a backtick or HTML."""
    text = text_safe(value)
    if any(ch in text for ch in "`<>&"):  # a code span is safe in CommonMark, but not in every reader
        return md_text(text)
    # GitHub still splits table cells at a pipe inside a code span; the backslash is dropped there.
    return "`" + text.replace("|", "\\|") + "`"


def html_text(value: object) -> str:
    """Text for HTML element content or a quoted attribute value."""
    import html  # its entity table costs a CLI start that prints no HTML a few ms

    return html.escape(text_safe(value), quote=True)


def csv_cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP "CSV injection")."""
    text = text_safe(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def gh_data(value: object) -> str:
    """The message part of a GitHub workflow command (`::error file=..::MESSAGE`)."""
    return str(value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def gh_property(value: object) -> str:
    """A property value of a GitHub workflow command (`file=`, `title=`)."""
    return gh_data(value).replace(":", "%3A").replace(",", "%2C")
