"""Regenerate the golden files of the check and diff formats: `python -m tests.formats.regen_golden`.

Run it from the repository root after an intended change to a renderer (or to the embedded data or
the accelerator table the cases are priced with), then review the diff of tests/formats/golden/.
"""

from __future__ import annotations

from pathlib import Path

from carbonguard import __version__
from carbonguard.formats.registry import RenderOptions, formats_for, render

GOLDEN = Path(__file__).resolve().parent / "golden"
SUFFIX = {"text": "txt", "json": "json", "markdown": "md", "github": "github.txt", "sarif": "sarif.json",
          "junit": "junit.xml"}
TAG = "examples/jobs/train-small.yaml"


def rendered() -> dict[str, str]:
    """File name -> expected text, for every format of `check` and of `diff`."""
    from tests.formats.check_cases import check_report, diff_report

    out = {}
    for kind, result in (("check", check_report()), ("diff", diff_report())):
        for name in formats_for(kind):
            text = render(name, result, RenderOptions(tag=TAG))
            out[f"{kind}.{SUFFIX[name]}"] = text.replace(__version__, "VERSION")  # a release must not break them
    return out


def main() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for name, text in rendered().items():
        (GOLDEN / name).write_text(text, encoding="utf-8", newline="")
        print(f"wrote tests/formats/golden/{name}")


if __name__ == "__main__":
    main()
