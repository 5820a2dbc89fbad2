#!/usr/bin/env python
"""Generate a multi-speaker English speech corpus in LibriTTS layout with open-source speech engines.

Sentences come from Jane Austen's six novels (public domain), read from the R data inside Debian's
`r-cran-janeaustenr` package (MIT). They are cleaned, a fixed set is held out for evaluation only,
and the rest are ranked for diphone coverage and dealt out to the voices of flite, festival and
espeak-ng. Output, with `<uttid>` = `<paragraph>_<sentence>` of the book (chapter = novel):

    <out>/<speaker>/<chapter>/<speaker>_<chapter>_<uttid>.wav      16 kHz mono 16-bit
    <out>/<speaker>/<chapter>/<speaker>_<chapter>_<uttid>.normalized.txt / .original.txt
    <out>/heldout/<speaker>_<chapter>_<uttid>.wav + .txt            held-out sentences, evaluation voices
    <out>/heldout.tsv, speakers.tsv, corpus.json, README.txt (README.md with --bundle), LICENSE

The held-out folder has no chapter level, so a reader of `<speaker>/<chapter>/*.wav` never sees it.
Runs are deterministic given the options, resumable (finished files are skipped; files are written
to a temporary name and renamed) and parallel.

    .venv/bin/python scripts/make_corpus.py --out corpora/offline --hours 4 --seed 0
    .venv/bin/python scripts/make_corpus.py --bundle --out data/demo --seed 0

This file is the command line; the work is done by the `corpus` package beside it (scripts/corpus/).
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

SCRIPTS = str(Path(__file__).resolve().parent)
if SCRIPTS not in sys.path:  # run as `python scripts/make_corpus.py` it is there already; imported by path it is not
    sys.path.insert(0, SCRIPTS)

from corpus.pipeline import Options, make_corpus  # noqa: E402
from corpus.voices import BUNDLE_SPEAKERS, VOICES, available  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's options, --bundle presets applied and values checked (a usage error exits 2)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="corpus folder (created; required)")
    parser.add_argument("--hours", type=float, default=None,
                        help="hours of training audio, shared equally by the speakers (default 4; 0.032 with --bundle)")
    parser.add_argument("--seed", type=int, default=0, help="held-out draw and speaker assignment")
    parser.add_argument("--heldout", type=int, default=None,
                        help="sentences held out for evaluation (default 200; 2 per speaker with --bundle)")
    parser.add_argument("--max-words", type=int, default=None,
                        help="longest training sentence in words, 5-20 (default 20; 10 with --bundle)")
    parser.add_argument("--speakers", default=None,
                        help="comma-separated speaker ids to use (default: all; " + ",".join(BUNDLE_SPEAKERS)
                        + " with --bundle); see --list-voices")
    parser.add_argument("--bundle", action="store_true", help="the small bundled demo corpus preset")
    parser.add_argument("--workers", type=int, default=2, help="synthesis processes")
    parser.add_argument("--job-size", type=int, default=16, help="utterances per job (one festival start each)")
    parser.add_argument("--no-heldout-audio", action="store_true", help="skip the held-out reference audio")
    parser.add_argument("--install", action="store_true", help="apt-get install missing engines and voices (root)")
    parser.add_argument("--list-voices", action="store_true", help="print the voices and whether they are here")
    parser.add_argument("--dry-run", action="store_true", help="plan and write metadata, synthesize nothing")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "tts" / "janeaustenr",
                        help="where the janeaustenr package is fetched and unpacked")
    parser.add_argument("--austen-dir", type=Path, default=None, help="janeaustenr's data folder (Rdata.rdb/.rdx)")
    parser.add_argument("--text-file", type=Path, action="append", default=[],
                        help="plain-text book(s) to use instead of Austen (repeatable; chapter = order given)")
    args = parser.parse_args(argv)
    preset = {"hours": (4.0, 0.032), "heldout": (200, 2 * len(BUNDLE_SPEAKERS)), "max_words": (20, 10),
              "speakers": (None, ",".join(BUNDLE_SPEAKERS))}
    for key, (normal, bundle) in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, bundle if args.bundle else normal)
    if args.out is None and not args.list_voices:
        parser.error("--out is required")
    if not 5 <= args.max_words <= 20:
        parser.error(f"--max-words {args.max_words}: choose 5-20")
    if args.hours <= 0 or args.heldout < 0 or args.workers < 1 or args.job_size < 1:
        parser.error("--hours must be > 0, --heldout >= 0, --workers and --job-size >= 1")
    args.command_line = " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    return args


def options_from_args(args: argparse.Namespace) -> Options:
    """The pipeline's options from parsed command-line arguments."""
    return Options(out=args.out, hours=args.hours, seed=args.seed, heldout=args.heldout, max_words=args.max_words,
                   speakers=args.speakers, bundle=args.bundle, workers=args.workers, job_size=args.job_size,
                   heldout_audio=not args.no_heldout_audio, install=args.install, dry_run=args.dry_run,
                   cache_dir=args.cache_dir, austen_dir=args.austen_dir, text_files=tuple(args.text_file),
                   command_line=args.command_line)


def list_voices() -> None:
    """Print every voice, whether it is installed here and whether it may speak held-out sentences."""
    ready, _ = available(VOICES)
    for v in VOICES:
        print(f"{v.speaker}  {v.label:<60} {'here' if v in ready else 'MISSING (' + v.package + ')'}"
              f"  {'evaluation' if v.evaluation else 'training only'}")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    if args.list_voices:
        list_voices()
        return 0
    return make_corpus(options_from_args(args))


if __name__ == "__main__":
    sys.exit(main())
