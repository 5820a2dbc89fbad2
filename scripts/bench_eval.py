#!/usr/bin/env python
"""How good and how fast are the offline judges? pocketsphinx WER on flite voices, and
resemblyzer speaker similarity of same vs different voices.

    .venv/bin/python scripts/bench_eval.py [--voices slt rms awb] [--sentences 20] [--out DIR]

Speaks the sentences below with each flite voice (16 kHz), transcribes them, and prints per
voice: WER (corpus level), seconds of recogniser and speaker-encoder time per second of audio
(CPU time of this process, and wall time, which grows when other work shares the cores), and
the speaker similarity of each voice's utterances to each other vs to the other voices. With --out it
also keeps the wavs there (as x.wav + x.txt, ready for `tts eval folder`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

SENTENCES = [
    "She opened the door and looked outside.",
    "Please call me back in the morning.",
    "The children played in the garden until dark.",
    "We bought 3 apples and a loaf of bread.",
    "He said the meeting would start at 10.",
    "The train was late because of the snow.",
    "My brother lives in a small house near the river.",
    "Turn left at the second light and keep going.",
    "The weather will be cold and windy tomorrow.",
    "She wrote a long letter to her old friend.",
    "Dinner is ready, so wash your hands.",
    "They walked along the beach for an hour.",
    "The book on the table belongs to my sister.",
    "It took them 2 days to paint the kitchen.",
    "I think we should leave before it rains.",
    "The dog barked at the man on the bicycle.",
    "Open the window and let some fresh air in.",
    "Our team won the game in the last minute.",
    "The doctor told him to rest for a week.",
    "Can you tell me where the station is?",
]


def speak(voice: str, text: str, path: Path) -> None:
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True, capture_output=True)


def clocks() -> np.ndarray:
    """(CPU seconds of this process, wall seconds) now."""
    return np.array([time.process_time(), time.perf_counter()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voices", nargs="+", default=["slt", "rms", "awb"], help="flite voices")
    parser.add_argument("--sentences", type=int, default=20, help=f"sentences per voice (<= {len(SENTENCES)})")
    parser.add_argument("--out", type=Path, default=None, help="keep the wavs and transcripts here")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (speaker encoder)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if shutil.which("flite") is None:
        raise SystemExit("flite is not installed (apt-get install -y flite)")

    from tts.audio.io import load_audio
    from tts.eval.asr import default_recognizer
    from tts.eval.speaker import default_speaker_encoder, similarity_scale
    from tts.eval.wer import WordErrors, word_errors

    recognizer, encoder = default_recognizer(), default_speaker_encoder()
    recognizer.transcribe(np.zeros(16000, np.float32), 16000)  # load models before timing
    encoder.embed(np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1, 16000)
    sentences = SENTENCES[: args.sentences]
    folder = args.out or Path(tempfile.mkdtemp(prefix="bench_eval_"))
    folder.mkdir(parents=True, exist_ok=True)
    embeddings: dict[str, list[np.ndarray]] = {}
    print(f"{'voice':<6} {'WER':>6} {'S':>4} {'D':>4} {'I':>4} {'words':>6} {'audio s':>8} "
          f"{'asr cpu/s':>9} {'asr wall/s':>10} {'spk cpu/s':>9} {'spk wall/s':>10}")
    grand = WordErrors()
    for voice in args.voices:
        total, audio_seconds = WordErrors(), 0.0
        asr_time, embed_time = np.zeros(2), np.zeros(2)  # (cpu, wall) seconds
        for number, text in enumerate(sentences):
            path = folder / f"{voice}_{number:02d}.wav"
            speak(voice, text, path)
            path.with_suffix(".txt").write_text(text + "\n", encoding="utf-8")
            wav, rate = load_audio(path)
            audio_seconds += len(wav) / rate
            start = clocks()
            hypothesis = recognizer.transcribe(wav, rate)
            asr_time += clocks() - start
            total = total + word_errors(text, hypothesis)
            start = clocks()
            embeddings.setdefault(voice, []).append(encoder.embed(wav, rate))
            embed_time += clocks() - start
        grand = grand + total
        print(f"{voice:<6} {total.wer:6.3f} {total.substitutions:4d} {total.deletions:4d} {total.insertions:4d} "
              f"{total.reference_words:6d} {audio_seconds:8.1f} {asr_time[0] / audio_seconds:9.3f} "
              f"{asr_time[1] / audio_seconds:10.3f} {embed_time[0] / audio_seconds:9.3f} "
              f"{embed_time[1] / audio_seconds:10.3f}")
    print(f"{'all':<6} {grand.wer:6.3f}")
    scale = similarity_scale(embeddings)
    print(f"\nspeaker similarity (resemblyzer): same voice {scale['same_speaker']:.3f}, "
          f"different voices {scale['different_speaker']:.3f}")
    for voice, row in scale["per_speaker"].items():
        print(f"  {voice:<6} same {row['same_speaker']:.3f}   to others {row['different_speaker']:.3f}")
    print(f"\nwavs in {folder}")


if __name__ == "__main__":
    main()
