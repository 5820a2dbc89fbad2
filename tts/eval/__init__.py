"""Numbers for intelligibility and fidelity: WER through an offline recogniser, MCD, mel distance,
duration ratio and speaker similarity (see `tts.eval.run` for the entry points)."""
