"""Commands that show and score: plot spectrogram/curves/codes, eval folder/model."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from tts.cli.common import (MAX_FRAMES_PER_PHONE_OPTION, MIN_FRAMES_PER_PHONE_OPTION, PACE_OPTION,
                            REFINER_STEPS_OPTION, TEMPERATURE_OPTION, TOP_K_OPTION, TOP_P_OPTION, eval_app, fail, load, plot_app)


@plot_app.command("spectrogram")
def plot_spectrogram(
    files: List[Path] = typer.Argument(..., help="Audio files, stacked top to bottom for comparison."),
    output: Path = typer.Option(..., "--output", "-o", help="PNG to write."),
    linear: bool = typer.Option(False, "--linear", help="Linear-frequency STFT instead of mel."),
    recipe: Optional[Path] = typer.Option(None, "--recipe", help="Take the mel settings from this recipe."),
) -> None:
    """Spectrograms of one or several files, time in seconds, frequency in Hz, with a dB colour bar."""
    from tts.audio.io import AudioError
    from tts.config import AudioConfig
    from tts.plot_files import plot_spectrogram_files

    audio = load(recipe, []).audio if recipe else AudioConfig()
    try:
        plot_spectrogram_files(files, output, audio=audio, linear=linear)
    except (AudioError, FileNotFoundError) as err:
        fail(str(err))
    typer.echo(f"wrote {output}")


@plot_app.command("curves")
def plot_curves(
    metrics: List[Path] = typer.Argument(..., help="metrics.jsonl files (or run stage folders holding one)."),
    output: Path = typer.Option(..., "--output", "-o", help="PNG to write."),
    keys: Optional[List[str]] = typer.Option(None, "--key", help="Metric names to plot (default: all losses)."),
    x: str = typer.Option("step", "--x", help="Horizontal axis: step, or time (hours of training, "
                          "to compare runs of different speed at equal cost)."),
) -> None:
    """Training and validation curves from one or more runs."""
    from tts.plot_files import plot_curves_files

    try:
        plot_curves_files(metrics, output, keys=keys or None, x=x)
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    typer.echo(f"wrote {output}")


@plot_app.command("codes")
def plot_codes(
    source: Path = typer.Argument(..., help="A .npy of codes (Q, T), or an utterance id with --prepared."),
    output: Path = typer.Option(..., "--output", "-o", help="PNG to write."),
    prepared: Optional[Path] = typer.Option(None, "--prepared", help="Prepared corpus folder to look the id up in."),
) -> None:
    """A code map: codebook index (rows) against time (frames), colour = code."""
    from tts.plot_files import plot_codes_file

    try:
        plot_codes_file(source, output, prepared=prepared)
    except (ValueError, FileNotFoundError, KeyError) as err:
        fail(str(err))
    typer.echo(f"wrote {output}")


@eval_app.command("folder")
def eval_folder(
    folder: Path = typer.Argument(..., help="Folder of x.wav with x.txt transcripts (or a manifest)."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="Folder of reference wavs with the same names."),
    prompts: Optional[Path] = typer.Option(None, "--prompts", help="Folder of prompt wavs with the same names "
                                           "(speaker similarity to the prompt)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the full results as JSON."),
    mos: bool = typer.Option(True, "--mos/--no-mos", help="DNSMOS naturalness (sig, bak, ovrl, P.808; 1..5) of "
                             "each wav and of its reference. It costs about 0.3 s of CPU per second of audio "
                             "(0.3 to 2.3 s a clip), for the wavs and again for the references."),
    save_audio: Optional[Path] = typer.Option(None, "--save-audio", help="Keep each scored wav in this folder "
                                              "as <id>.wav with <id>.txt, and manifest.jsonl naming its text, "
                                              "prompt, reference and scores."),
) -> None:
    """Score a folder of wavs: WER and DNSMOS, and MCD / mel distance / duration ratio / speaker similarity where
    references exist."""
    from tts.eval.run import evaluate_folder

    try:
        result = evaluate_folder(folder, reference=reference, prompts=prompts, mos=mos, save_audio=save_audio)
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        fail(str(err))
    _report(result, output)


@eval_app.command("model")
def eval_model(
    model: Path = typer.Argument(..., help="Trained run folder."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the full results as JSON."),
    limit: int = typer.Option(50, help="Held-out utterances to synthesize and score."),
    prompt: bool = typer.Option(True, help="Prompt each sentence with another utterance of its speaker."),
    what: str = typer.Option("model", "--what", help="model (synthesize), nar (the NAR + codec from the true "
                             "codebook 1), durations (the durations model at the aligner's true durations), ar "
                             "(the AR teacher-forced on the true codebook 1, codebook 1 alone), codec "
                             "(resynthesis), vocoder (copy-synthesis), griffin_lim (its baseline) or original "
                             "(the recogniser's floor)."),
    seed: int = typer.Option(0, help="Sampling seed."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="With --what codec or vocoder: "
                                              "score this checkpoint file instead of the run's best.pt."),
    temperature: Optional[float] = TEMPERATURE_OPTION,
    top_k: Optional[int] = TOP_K_OPTION,
    top_p: Optional[float] = TOP_P_OPTION,
    min_frames_per_phone: Optional[float] = MIN_FRAMES_PER_PHONE_OPTION,
    max_frames_per_phone: Optional[float] = MAX_FRAMES_PER_PHONE_OPTION,
    pace: Optional[float] = PACE_OPTION,
    refiner_steps: Optional[int] = REFINER_STEPS_OPTION,
    quantize: Optional[str] = typer.Option(None, "--quantize", help="With --what model: int8 synthesizes with "
                                           "dynamic int8 linear layers on CPU (as tts synthesize --quantize)."),
    codebooks: Optional[int] = typer.Option(None, "--codebooks", help="With --what codec: decode from the "
                                            "first N codebooks only (a lower bitrate)."),
    mos: bool = typer.Option(True, "--mos/--no-mos", help="DNSMOS naturalness (sig, bak, ovrl, P.808; 1..5) of "
                             "each wav and of its reference. It costs about 0.3 s of CPU per second of audio "
                             "(0.3 to 2.3 s a clip), for the wavs and again for the references."),
    save_audio: Optional[Path] = typer.Option(None, "--save-audio", help="Keep each synthesized wav in this "
                                              "folder as <id>.wav with <id>.txt, the recordings and prompts under "
                                              "references/ and prompts/, and manifest.jsonl naming them with the "
                                              "scores (tts eval folder reads it back)."),
) -> None:
    """Synthesize a prepared corpus's held-out sentences with a trained model and score them."""
    from tts.eval.run import evaluate_model

    try:
        result = evaluate_model(model, limit=limit, prompt=prompt, what=what, seed=seed, checkpoint=checkpoint,
                                sampling={"temperature": temperature, "top_k": top_k, "top_p": top_p,
                                          "min_frames_per_phone": min_frames_per_phone,
                                          "max_frames_per_phone": max_frames_per_phone, "pace": pace,
                                          "refiner_steps": refiner_steps},
                                codebooks=codebooks, quantize=quantize, mos=mos, save_audio=save_audio)
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        fail(str(err))
    _report(result, output)


@eval_app.command("compare")
def eval_compare(
    first: Path = typer.Argument(..., help="A: the JSON of one `tts eval model|folder -o` run."),
    second: Path = typer.Argument(..., help="B: the JSON of another run on the same held-out sentences."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the comparison as JSON."),
    resamples: int = typer.Option(2000, help="Paired bootstrap draws of the utterances."),
) -> None:
    """Whether B differs from A beyond noise: each measure's difference B - A with its 95 % interval, over the
    utterances both scored (paired bootstrap)."""
    from tts.data.store import read_json, write_json
    from tts.eval.compare import compare, comparison_lines

    try:
        result = compare(read_json(first), read_json(second), resamples=resamples)
    except (ValueError, FileNotFoundError, KeyError) as err:
        fail(str(err))
    for line in comparison_lines(result, str(first), str(second)):
        typer.echo(line)
    if output:
        write_json(output, {"a": str(first), "b": str(second), **result})
        typer.echo(f"wrote {output}")


@eval_app.command("codes")
def eval_codes(
    run: Path = typer.Argument(..., help="Run folder (or its prepared/ folder) whose corpus holds codes."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the figures as JSON."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a bar chart of the levels (PNG)."),
    limit: int = typer.Option(0, help="Training utterances to fit on, drawn at random (0 = all)."),
    probe: bool = typer.Option(True, "--probe/--no-probe", help="Train a small network per level on the "
                               "levels below and 2 frames each side (about a minute a level on one core)."),
) -> None:
    """How predictable each codebook level is from the levels below: the NAR's ceiling, in nats."""
    from tts.data.store import write_json
    from tts.eval.predictability import run_predictability

    try:
        result = run_predictability(run, limit=limit, probe=probe)
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    typer.echo(f"{result['train_frames']} training frames, {result['heldout_frames']} held out; "
               f"held-out cross-entropy in nats (uniform {result['levels'][0]['uniform']:.2f})")
    for row in result["levels"]:
        cells = [f"{key} {row[key]:.3f}" for key in ("unigram", "given_below", "probe", "probe_accuracy")
                 if key in row]
        typer.echo(f"  level {row['level']}: " + ", ".join(cells))
    if output:
        write_json(output, result)
        typer.echo(f"wrote {output}")
    if plot:
        from tts.plot import plot_predictability

        typer.echo(f"wrote {plot_predictability(result['levels'], plot, title=f'{run}: codes by level')}")


def _report(result: dict, output: Optional[Path]) -> None:
    """The printed summary of an evaluation, and its JSON written (atomically) where asked."""
    from tts.data.store import write_json
    from tts.eval.run import print_summary

    print_summary(result)
    if output:
        write_json(output, result)
        typer.echo(f"wrote {output}")
