"""How long a run's durations model speaks against its recordings, and the spread it speaks the mean with.

    python scripts/durations_spread.py RUN [--sentences 300] [--write OUT.pt]

Prints the squared error of log(1 + frames) over the held-out phones, measured by stage durations' own
validation pass (what the stage keeps in the model as duration_variance), the spread the checkpoint holds,
and, for up to --sentences held-out and training sentences each prompted with its speaker's reference
recording, the frames the model speaks (DurationsModel.speak at the recipe's pace) over the aligner's frames
of the recording. 1 is the recordings' rate; a checkpoint written before the model kept its spread speaks
about 7 % short. --write saves a copy of RUN/durations/best.pt with the measured spread (fp32 weights), for
such a checkpoint; put it in place of best.pt (or in an exported folder) to speak at the mean.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch

from tts.checkpoint import read_checkpoint, save_checkpoint
from tts.config import load_recipe
from tts.data.durations import read_durations
from tts.models.durations import DurationsModel
from tts.synthesize import Synthesizer
from tts.text.symbols import encode
from tts.train.durations_task import DurationsTask


def measured_spread(run: Path, model: DurationsModel) -> float:
    """Stage durations' validation pass over the run's prepared corpus with `model`: the squared error of
    log(1 + frames) over all the held-out phones (also left in the model's duration_variance)."""
    recipe = dataclasses.replace(load_recipe(run / "recipe.yaml"), output_dir=str(run))
    task = DurationsTask(recipe)
    for batch in task.validation_batches():
        task.validate({"model": model}, batch, torch.device("cpu"))
    return float(model.duration_variance)


def spoken_ratio(synthesizer: Synthesizer, truth: dict[str, np.ndarray], records: list[dict]) -> float:
    """Frames the durations model speaks for `records`' sentences over the aligner's frames of their recordings."""
    model, pace = synthesizer.chain.model, synthesizer.recipe.synthesis.pace
    spoken = aligned = 0
    for record in records:
        prompt = synthesizer.prompt_from_speaker(record["speaker"])
        phones = torch.tensor(encode(list(record["phones"])), dtype=torch.long)
        prompt_phones = torch.tensor(encode(list(prompt.phones)), dtype=torch.long)
        _, durations = model.speak([phones], [prompt.codes], [prompt_phones], pace=pace)
        spoken += int(durations[0].sum())
        aligned += int(truth[record["id"]].sum())
    return spoken / max(aligned, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a run folder with durations/, aligner/durations.npz and prepared/")
    parser.add_argument("--sentences", type=int, default=300, help="sentences per split (default 300)")
    parser.add_argument("--write", type=Path, help="save best.pt with the measured spread here")
    args = parser.parse_args()
    synthesizer = Synthesizer.from_run(args.run)
    kept = float(synthesizer.chain.model.duration_variance)
    truth = read_durations(args.run / "aligner" / "durations.npz")
    rng = np.random.default_rng(0)
    print(f"{args.run}: spread kept in the checkpoint {kept:.4f}, pace {synthesizer.recipe.synthesis.pace:g}")
    for split in ("validation", "train"):
        records = [r for r in synthesizer.corpus.records(split) if r["id"] in truth]
        records = [records[i] for i in rng.permutation(len(records))[:args.sentences]]
        print(f"{split}: {len(records)} sentences, spoken / aligner frames "
              f"{spoken_ratio(synthesizer, truth, records):.4f}")
    checkpoint = read_checkpoint(args.run / "durations" / "best.pt")
    model = DurationsModel.from_checkpoint(checkpoint)
    print(f"spread measured by the stage's validation pass: {measured_spread(args.run, model):.4f}")
    if args.write:
        state = {k: v for k, v in checkpoint.items() if k not in ("storage", "scales")}
        save_checkpoint({**state, "modules": {**checkpoint["modules"], "model": model.state_dict()}}, args.write)
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
