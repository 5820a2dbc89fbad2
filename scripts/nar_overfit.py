"""Can the recipe's NAR memorise a handful of real utterances? If it cannot, it has a bug.

Trains the run's NAR architecture (recipe section `nar`, no dropout) from scratch on N training
utterances of the run's prepared codes, each step on all of them with a level drawn per utterance as
in training, and prints the per-level loss and accuracy on those same utterances, with every level
scored, at regular steps. A NAR that learns reaches accuracy near 1 on every level; one that cannot
see its inputs, or reads the wrong targets, stays near the unigram.

    python scripts/nar_overfit.py runs/offline12 --utterances 20 --steps 400
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run folder whose prepared corpus holds codes")
    parser.add_argument("--utterances", type=int, default=20)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--report-every", type=int, default=50)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch's default)")
    parser.add_argument("-o", "--output", type=Path, help="write the per-level curve as JSON")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from tts.config import load_recipe
    from tts.train.nar_task import NARTask

    recipe = load_recipe(args.run / "recipe.yaml", [f"output_dir={args.run}", "nar.dropout=0.0"])
    task = NARTask(recipe)
    data = task.dataset("train")
    items = sorted(np.random.default_rng(0).choice(len(data), size=min(args.utterances, len(data)),
                                                   replace=False).tolist())
    model = task.build_modules()["model"]
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.0)
    device = torch.device("cpu")
    scored = task.collate(data, items, np.random.default_rng(1))  # fixed prompts for the score
    frames = int(sum(data.items[i].n_frames for i in items))
    print(f"{len(items)} utterances, {frames} frames, {task.n_codebooks} levels of {task.codebook_size}; "
          f"model {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters")
    curve, start = [], time.perf_counter()
    for step in range(1, args.steps + 1):
        model.train()
        batch = task.collate(data, items, np.random.default_rng([2, step]))
        lr = args.lr * min(1.0, step / 50)
        for group in optimiser.param_groups:
            group["lr"] = lr
        for _, loss, _ in task.train_step({"model": model}, batch, step, device):
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
        if step % args.report_every == 0 or step == args.steps:
            model.eval()
            metrics = task.validate({"model": model}, scored, device)
            levels = range(2, task.n_codebooks + 1)
            row = {"step": step, "seconds": round(time.perf_counter() - start, 1),
                   **{f"loss_level{k}": round(metrics[f"loss_level{k}"], 3) for k in levels},
                   **{f"accuracy_level{k}": round(metrics[f"accuracy_level{k}"], 3) for k in levels}}
            curve.append(row)
            print(f"step {step:5d} ({row['seconds']:.0f} s): " + "  ".join(
                f"q{k} loss {row[f'loss_level{k}']:.2f} acc {row[f'accuracy_level{k}']:.2f}" for k in levels),
                flush=True)
    if args.output:
        args.output.write_text(json.dumps({"run": str(args.run), "utterances": len(items), "frames": frames,
                                           "curve": curve}, indent=1))


if __name__ == "__main__":
    main()
