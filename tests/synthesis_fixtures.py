"""Helpers for tests of the synthesis chains (tests/test_synthesize.py, tests/eval/test_generators.py)."""

import torch


class RecordingMelVocoder:
    """Stands in for a mel vocoder: keeps what it is given, returns hop_length samples per frame."""

    input = "mel"

    def __init__(self):
        self.heard = []

    def __call__(self, mel):
        self.heard.append(mel)
        return torch.full((1, 1, mel.shape[-1] * 160), 0.1)
