"""Measure `normalize_text` against a folder of English text-normalisation test cases.

Usage:
    python scripts/bench_normalize.py FOLDER [--show-failures N]

FOLDER holds files named `test_cases_<category>.txt`, in the format of NVIDIA NeMo-text-processing's English test
data (tests/nemo_text_processing/en/data_text_normalization/): one case a line, `written~spoken`, where further
`~spoken` fields are accepted alternatives. One file (normalize_with_audio) uses another layout: a line
`~written` opens a case and the lines after it (lines without `~`), up to the next `~` line, are its accepted
spoken forms; a file with any line that has no `~` is read in that layout.

Each written form goes through `normalize_text`; a case counts as an exact match when the output equals one of
its spoken forms after both sides are put in a comparison form: lower-cased, hyphens turned into spaces, every
other character that is not a letter, digit or space removed (so punctuation and apostrophes do not count),
and runs of spaces collapsed. Nothing else is forgiven: "one hundred and five" differs from "one hundred five",
and letters spoken by name ("B B C") differ from a word written in capitals ("BBC").

The script prints, per category (the `<category>` part of each file name), the number of cases and the
exact-match rate, then the total over all cases.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tts.text import normalize_text  # noqa: E402 (after the path set-up above)

Case = tuple[str, list[str]]  # written form, accepted spoken forms


def comparison_form(text: str) -> str:
    """Lower-case, hyphens to spaces, drop all but letters, digits and spaces, collapse spaces."""
    text = text.lower().replace("-", " ")
    text = "".join(char for char in text if char.isalnum() or char.isspace())
    return re.sub(r"\s+", " ", text).strip()


def read_cases(path: Path) -> list[Case]:
    """The cases of one file, in either of the two layouts described at the top."""
    lines = [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line.strip()]
    if any("~" not in line for line in lines):
        if not lines[0].startswith("~"):
            raise ValueError(f"{path}: neither layout: line {lines[0]!r} has no '~'")
        return _read_open_layout(lines)
    return [(line.split("~")[0], line.split("~")[1:]) for line in lines]


def _read_open_layout(lines: list[str]) -> list[Case]:
    cases: list[Case] = []
    for line in lines:
        if line.startswith("~"):
            cases.append((line[1:], []))
        else:
            cases[-1][1].append(line)
    return [(written, spoken) for written, spoken in cases if spoken]


def score(cases: list[Case]) -> tuple[int, list[tuple[str, str, str]]]:
    """(number of exact matches, failures as (written, got, first expected))."""
    matches, failures = 0, []
    for written, spoken in cases:
        got = normalize_text(written)
        if comparison_form(got) in {comparison_form(s) for s in spoken}:
            matches += 1
        else:
            failures.append((written, got, spoken[0]))
    return matches, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder of test_cases_<category>.txt files")
    parser.add_argument("--show-failures", type=int, default=0, metavar="N",
                        help="also print up to N failures per category")
    args = parser.parse_args(argv)
    files = sorted(args.folder.glob("test_cases_*.txt"))
    if not files:
        parser.error(f"no test_cases_*.txt files in {args.folder}")
    print("| category | cases | exact match |\n| --- | ---: | ---: |")
    total_cases = total_matches = 0
    shown = []
    for path in files:
        category = path.stem.removeprefix("test_cases_")
        cases = read_cases(path)
        matches, failures = score(cases)
        total_cases, total_matches = total_cases + len(cases), total_matches + matches
        print(f"| {category} | {len(cases)} | {100 * matches / max(len(cases), 1):.1f}% |")
        shown += [(category, *failure) for failure in failures[:args.show_failures]]
    print(f"| **all** | {total_cases} | {100 * total_matches / max(total_cases, 1):.1f}% |")
    for category, written, got, expected in shown:
        print(f"{category}: {written!r} -> {got!r} (expected {expected!r})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
