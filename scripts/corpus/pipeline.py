"""A whole run: options -> the plan (voices, sentences, who says which) -> metadata -> audio -> final metadata."""

from __future__ import annotations

import logging
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from corpus.books import load_books
from corpus.files import write_tsv
from corpus.lexicon import load_lexicon
from corpus.metadata import audio_seconds, check_settings, write_metadata
from corpus.selection import assign_sentences, coverage_order, split_heldout
from corpus.sentences import Sentence, clean_sentences
from corpus.synthesis import Job, make_jobs, plan_utterances, synthesize_all
from corpus.voices import Voice, select_voices

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2  # bump when the sentence list, selection or file layout changes


@dataclass(frozen=True)
class Options:
    """What to make (the options of scripts/make_corpus.py, presets applied)."""

    out: Path  # corpus folder
    hours: float  # training audio, shared equally by the speakers
    seed: int  # held-out draw and speaker assignment
    heldout: int  # sentences held out for evaluation
    max_words: int  # longest training sentence in words, 5-20
    speakers: str | None  # comma-separated speaker ids; None: all
    bundle: bool  # the small bundled demo corpus (README.md, a note on its purpose)
    workers: int  # synthesis processes
    job_size: int  # utterances per job
    heldout_audio: bool  # speak the held-out sentences with the evaluation voices
    install: bool  # apt-get install missing engines and voices
    dry_run: bool  # plan and write metadata, synthesize nothing
    cache_dir: Path  # where janeaustenr's package is fetched and unpacked
    austen_dir: Path | None  # janeaustenr's data folder, if already at hand
    text_files: tuple[Path, ...]  # plain-text books instead of Austen
    command_line: str  # the options as typed, for the README


@dataclass(frozen=True)
class Plan:
    """Who says what: the voices, the held-out and training sentences, and the settings that fix them."""

    voices: list[Voice]
    missing: list[Voice]  # wanted but not installed here
    counts: dict[str, int]  # sentences in the source, dropped (and why) and kept
    heldout: list[Sentence]
    heldout_voices: list[tuple[Sentence, Voice]]  # each held-out sentence and the evaluation voice that says it
    n_pool: int  # sentences left for training
    n_ranked: int  # of those, short enough to be said
    assigned: dict[str, list[Sentence]]  # speaker -> training sentences
    settings: dict  # corpus.json: a folder is only resumed with the same


def plan_corpus(options: Options) -> Plan:
    """Choose voices and sentences; raises RuntimeError/ValueError/OSError when the run cannot go ahead."""
    voices, missing = select_voices(options.speakers, options.install)
    if not voices:
        raise RuntimeError("no voice can speak here: install flite, festival or espeak-ng "
                           "(Debian: apt-get install flite), or rerun with --install as root")
    books = load_books(options.cache_dir, options.austen_dir, options.text_files)
    sentences, counts = clean_sentences(books, load_lexicon())
    heldout, pool = split_heldout(sentences, options.heldout, options.seed)
    ranked = coverage_order([s for s in pool if s.n_words <= options.max_words])
    assigned = assign_sentences(ranked, voices, options.hours, options.seed)
    judges = [v for v in voices if v.evaluation]
    if heldout and not judges and options.heldout_audio:
        raise RuntimeError("no evaluation voice (flite slt/rms/awb/kal16 or festival) is here to speak the "
                           "held-out sentences; install flite, or pass --no-heldout-audio")
    heldout_voices = [(s, judges[i % len(judges)]) for i, s in enumerate(heldout)] if judges else []
    settings = {"format": FORMAT_VERSION, "seed": options.seed, "hours": options.hours, "heldout": options.heldout,
                "max_words": options.max_words, "speakers": [v.speaker for v in voices],
                "sentences": counts["kept"], "books": [title for title, _ in books]}
    return Plan(voices, missing, counts, heldout, heldout_voices, len(pool), len(ranked), assigned, settings)


def make_corpus(options: Options) -> int:
    """Plan, write the metadata and (unless a dry run) the audio; the exit status (1: an error or failures)."""
    started = time.perf_counter()
    try:
        plan = plan_corpus(options)
        check_settings(options.out, plan.settings)
    except (RuntimeError, ValueError, OSError, subprocess.CalledProcessError) as err:
        logger.error("error: %s", err)
        return 1
    logger.info("sentences: %s", ", ".join(f"{k} {v}" for k, v in plan.counts.items()))
    logger.info("held out for evaluation: %d sentences; training pool %d (%d of at most %d words)",
                len(plan.heldout), plan.n_pool, plan.n_ranked, options.max_words)
    logger.info("speakers: %s", ", ".join(f"{v.speaker}={v.label}" for v in plan.voices))
    utterances = plan_utterances(options.out, plan.voices, plan.assigned,
                                 plan.heldout_voices if options.heldout_audio else [])
    jobs = make_jobs(utterances, options.job_size)
    todo = sum(len(items) for _, items in jobs)
    logger.info("%d utterances planned, %d already done, %d to make", len(utterances), len(utterances) - todo, todo)
    _write_metadata(options, plan, None)
    if options.dry_run:
        return 0
    return _synthesize(options, plan, jobs, started)


def _write_metadata(options: Options, plan: Plan, stats: dict[str, tuple[int, float]] | None) -> None:
    write_metadata(options.out, plan.voices, plan.missing, plan.heldout_voices, plan.counts, stats,
                   bundle=options.bundle, command_line=options.command_line)


def _synthesize(options: Options, plan: Plan, jobs: list[Job], started: float) -> int:
    """Make the audio, then the final metadata and failures.tsv; 1 when an utterance failed."""
    synth_started = time.perf_counter()
    made, seconds, failures = synthesize_all(jobs, options.workers)
    synth_wall = time.perf_counter() - synth_started
    stats = audio_seconds(options.out)
    _write_metadata(options, plan, stats)
    failures_tsv = options.out / "failures.tsv"
    if failures:
        write_tsv(failures_tsv, ["audio", "error"], [[w, e.replace("\t", " ")] for w, e in failures])
    elif failures_tsv.is_file():
        failures_tsv.unlink()  # an earlier run's failures, all made good now
    total_n, total_s = sum(n for n, _ in stats.values()), sum(t for _, t in stats.values())
    if made:
        logger.info("made %d files (%.2f h of audio) in %.0f s: %.0f s of wall time per hour of audio",
                    made, seconds / 3600, synth_wall, synth_wall / (seconds / 3600))
    logger.info("corpus: %d training utterances, %.2f h, %d speakers; held-out %d sentences; %.0f s in all",
                total_n, total_s / 3600, len(stats), len(plan.heldout), time.perf_counter() - started)
    if failures:
        logger.error("%d utterances failed (see %s); rerun to retry them", len(failures), failures_tsv)
        return 1
    return 0
