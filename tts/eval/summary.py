"""A one-screen summary of an evaluation result (the full numbers are in its JSON)."""

from __future__ import annotations

from typing import TextIO

MAX_SPEAKER_ROWS = 20

# per-speaker table: header, width, aggregate key, format
COLUMNS = (
    ("n", 5, "utterances", "{:d}"),
    ("WER", 6, "wer", "{:.3f}"),
    ("floor", 6, "floor_wer", "{:.3f}"),
    ("MCD", 6, "mcd", "{:.2f}"),
    ("mel", 6, "mel_distance", "{:.3f}"),
    ("dur", 5, "duration_ratio", "{:.2f}"),
    ("ovrl", 5, "dnsmos_ovrl", "{:.2f}"),
    ("p808", 5, "dnsmos_p808", "{:.2f}"),
    ("prompt", 6, "prompt_similarity", "{:.3f}"),
    ("own", 6, "similarity_same_speaker", "{:.3f}"),
    ("other", 6, "similarity_other_speakers", "{:.3f}"),
    ("maxlen", 6, "hit_max_length", "{:.0%}"),
)


def print_summary(result: dict, file: TextIO | None = None) -> None:
    """Print aggregates, the speaker-similarity scale and a per-speaker table."""
    for line in summary_lines(result):
        print(line, file=file)


def summary_lines(result: dict) -> list[str]:
    """The summary as lines of text."""
    total = result["aggregate"]
    what = f" ({result['what']})" if result.get("what") else ""
    lines = [f"tts eval {result['kind']}{what}: {result['source']}: {total['utterances']} utterances, "
             f"{total['seconds']:.1f} s of audio, {result.get('compute_seconds', 0.0):.0f} s to score"]
    if total["utterances"] == 0:
        return lines
    if total.get("wer") is not None:
        lines.append(f"  WER              {total['wer']:.3f}  (mean per utterance {total['wer_mean']:.3f}; "
                     f"S {total['substitutions']}, D {total['deletions']}, I {total['insertions']} "
                     f"over {total['reference_words']} words)")
        if total.get("wer_interval"):
            lines.append("                   95 % interval {:.3f} to {:.3f} over these sentences (bootstrap; "
                         "`tts eval compare` for two runs)".format(*total["wer_interval"]))
    if total.get("unscorable"):
        lines.append(f"  unscorable       {total['unscorable']} of {total['utterances']} without WER: their text has "
                     "no words (see \"unscorable\" in the JSON); their other measures count")
    if result.get("what") == "original":
        lines.append("                   this is the recogniser's floor: its error on the original audio")
    _line(lines, total, "floor_wer", "  floor WER        {:.3f}  (the recogniser on the reference audio)")
    _line(lines, total, "mcd", "  MCD              {:.2f} dB  (DTW-aligned, c1..c24)")
    _line(lines, total, "mel_distance", "  mel distance     {:.3f}  (multi-resolution log-mel L1, unaligned)")
    _line(lines, total, "variance_ratio", "  variance ratio   {:.2f}  (how much its log-mel bands move against the "
          "reference's; below 1 smoother)")
    if total.get("duration_ratio") is not None:
        basis = {u.get("duration_basis") for u in result.get("utterances", [])} - {None}
        lines.append(f"  duration ratio   {total['duration_ratio']:.2f}  (median {total['duration_ratio_median']:.2f}; "
                     f"against {' and '.join(sorted(basis)) or 'reference'})")
    if total.get("hit_max_length") is not None:
        lines.append(f"  hit max length   {total['hit_max_length_count']}/{total['utterances']} "
                     f"({total['hit_max_length']:.0%}) without end-of-speech")
    lines += _mos_lines(total)
    lines += _speaker_lines(result)
    _line(lines, total, "synthesis_rtf", "  synthesis        real-time factor {:.2f}")
    if result.get("saved_audio"):
        lines.append(f"  saved audio      {result['saved_audio']} (manifest.jsonl lists each wav with its text, "
                     "prompt, reference and scores)")
    lines += _speaker_table(result.get("per_speaker") or {})
    return lines


def _mos_lines(total: dict) -> list[str]:
    """DNSMOS of the audio scored and of the references, one line each."""
    lines = []
    for prefix, label, note in (("", "  DNSMOS           ", "(1..5, higher is better)"),
                                ("reference_", "  DNSMOS reference ", "(the original recordings)")):
        values = [total.get(f"{prefix}dnsmos_{key}") for key in ("sig", "bak", "ovrl", "p808")]
        if any(v is not None for v in values):
            cells = "  ".join(f"{name} {_fmt(v, '{:.2f}')}" for name, v in zip(("SIG", "BAK", "OVRL", "P.808"), values))
            lines.append(f"{label}{cells}  {note}")
    return lines


def _speaker_lines(result: dict) -> list[str]:
    total, lines = result["aggregate"], []
    groups = (
        ("  speaker sim.     ", (("prompt_similarity", "to prompt"), ("reference_similarity", "to reference"))),
        ("  output vs real   ", (("similarity_same_speaker", "own speaker"),
                                 ("similarity_other_speakers", "other speakers"),
                                 ("similarity_nearest_other", "nearest other"))),
    )
    for label, keys in groups:
        parts = [f"{name} {total[key]:.3f}" for key, name in keys if total.get(key) is not None]
        if label.startswith("  output") and total.get("speaker_identified") is not None:
            parts.append(f"closest to own speaker {total['speaker_identified']:.0%}")
        if parts:
            lines.append(label + ", ".join(parts))
    scale = result.get("speaker_scale") or {}
    if scale.get("same_speaker") is not None or scale.get("different_speaker") is not None:
        lines.append(f"  real vs real     same speaker {_fmt(scale.get('same_speaker'))}, "
                     f"different speakers {_fmt(scale.get('different_speaker'))}")
    return lines


def _speaker_table(per_speaker: dict[str, dict]) -> list[str]:
    if not per_speaker:
        return []
    columns = [c for c in COLUMNS if any(row.get(c[2]) is not None for row in per_speaker.values())]
    width = max(8, min(24, max(len(name) for name in per_speaker)))
    lines = ["", f"  {'speaker':<{width}}" + "".join(f"{h:>{w + 1}}" for h, w, _, _ in columns)]
    for number, (name, row) in enumerate(per_speaker.items()):
        if number == MAX_SPEAKER_ROWS:
            lines.append(f"  ... {len(per_speaker) - MAX_SPEAKER_ROWS} more speakers in the JSON output")
            break
        cells = "".join(f"{_fmt(row.get(key), fmt):>{w + 1}}" for _, w, key, fmt in columns)
        lines.append(f"  {name[:width]:<{width}}{cells}")
    return lines


def _line(lines: list[str], total: dict, key: str, template: str) -> None:
    if total.get(key) is not None:
        lines.append(template.format(total[key]))


def _fmt(value, fmt: str = "{:.3f}") -> str:
    return "-" if value is None else fmt.format(value)
