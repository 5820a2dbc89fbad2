"""Corpora in, prepared corpora out.

readers.py  one reader per on-disk layout (LJSpeech, LibriTTS, VCTK, manifest, folder) -> utterances + drops
prepare.py  `tts prepare`: shards, per-shard stages (stages.py), merge (merge.py) into manifest + split + report
corpus.py   PreparedCorpus: manifest records and memory-mapped audio, log-mel and codec codes
split.py    the deterministic speaker-aware train/validation split
"""
