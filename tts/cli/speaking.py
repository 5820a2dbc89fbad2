"""Commands that speak: synthesize, export, voices, vocode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from tts.cli.common import (MAX_FRAMES_PER_PHONE_OPTION, MIN_FRAMES_PER_PHONE_OPTION, PACE_OPTION,
                            REFINER_STEPS_OPTION, TEMPERATURE_OPTION, TOP_K_OPTION, TOP_P_OPTION, app, fail)


@app.command()
def synthesize(
    sentence: Optional[str] = typer.Argument(None, help="Text to speak (or use --batch)."),
    out: Path = typer.Argument(Path("out.wav"), help="Output wav (with --batch: an output folder, "
                               "given as the only argument)."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="Trained run folder, or one written by "
                                         "`tts export` (default: the bundled voice, or the folder TTS_VOICE names)."),
    prompt_wav: Optional[Path] = typer.Option(None, "--prompt-wav", help="Reference clip whose voice to use."),
    prompt_text: Optional[str] = typer.Option(None, "--prompt-text", help="Transcript of --prompt-wav."),
    speaker: Optional[str] = typer.Option(None, "--speaker", help="Training speaker to speak as when there is no "
                                          "prompt (`tts voices` lists them; default: the first)."),
    temperature: Optional[float] = TEMPERATURE_OPTION,
    top_k: Optional[int] = TOP_K_OPTION,
    top_p: Optional[float] = TOP_P_OPTION,
    min_frames_per_phone: Optional[float] = MIN_FRAMES_PER_PHONE_OPTION,
    max_frames_per_phone: Optional[float] = MAX_FRAMES_PER_PHONE_OPTION,
    seed: Optional[int] = typer.Option(None, help="Random seed for sampling."),
    pace: Optional[float] = PACE_OPTION,
    refiner_steps: Optional[int] = REFINER_STEPS_OPTION,
    batch: Optional[Path] = typer.Option(None, "--batch", help="A text file, one line per utterance."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also write a spectrogram PNG of the result."),
    quantize: Optional[str] = typer.Option(None, "--quantize", help="int8: dynamic int8 linear layers on CPU."),
    vocoder: Optional[Path] = typer.Option(None, "--vocoder", help="The mel vocoder to decode through (a checkpoint "
                                           "or its stage folder), instead of the run's own; a run with a "
                                           "pretrained EnCodec has none."),
    no_kv_cache: bool = typer.Option(False, "--no-kv-cache", help="Recompute the prefix every step (slow; for comparison)."),
    device: str = typer.Option("cpu", help="cpu, cuda or auto."),
) -> None:
    """Speak text with a trained model, optionally in the voice of a reference clip; prints the real-time factor."""
    if batch is not None and sentence is not None and out == Path("out.wav"):
        sentence, out = None, Path(sentence)  # `tts synthesize --batch lines.txt OUT_DIR`
    changes = {"temperature": temperature, "top_k": top_k, "top_p": top_p, "seed": seed, "pace": pace,
               "refiner_steps": refiner_steps,
               "min_frames_per_phone": min_frames_per_phone, "max_frames_per_phone": max_frames_per_phone,
               "kv_cache": False if no_kv_cache else None}
    try:
        _check_synthesize_inputs(out if batch is None else out / "1.wav", changes)  # --batch: OUT is a folder
    except ValueError as err:
        fail(str(err), 2)
    try:
        _synthesize(sentence, out, model, prompt_wav, prompt_text, speaker, changes, batch, plot,
                    {"quantize": quantize, "device": device, "vocoder": vocoder})
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        fail(str(err))


def _check_synthesize_inputs(out: Optional[Path], changes: dict) -> None:
    """ValueError for an output file that cannot be written or an option out of its range, before any model loads."""
    import dataclasses

    from tts.audio.io import check_output_path
    from tts.config import ConfigError, SynthesisConfig

    if out is not None:
        check_output_path(out)
    # each option against its own range; the frames-per-phone pair is checked against the run's recipe once loaded
    alone = {k: v for k, v in changes.items()
             if v is not None and k not in ("min_frames_per_phone", "max_frames_per_phone")}
    try:
        dataclasses.replace(SynthesisConfig(), **alone).validate()
    except ConfigError as err:
        option = "--" + err.key.replace("_", "-")
        raise ValueError(f"{option} {err.value!r} is invalid (synthesis.{err.key}): {err.allowed}") from None


def _synthesize(sentence: Optional[str], out: Path, model: Optional[Path], prompt_wav: Optional[Path],
                prompt_text: Optional[str], speaker: Optional[str], changes: dict, batch: Optional[Path],
                plot: Optional[Path], loading: dict) -> None:
    """One text to one wav, or --batch lines to a folder with a manifest; `changes` to the recipe's options,
    `loading` to Synthesizer.from_run."""
    import time

    from tts.audio.io import save_audio
    from tts.synthesize import Synthesizer

    if (sentence is None) == (batch is None):
        raise ValueError("give either a text to speak or --batch lines.txt (not both)")
    if prompt_text and not prompt_wav:
        raise ValueError("--prompt-text goes with --prompt-wav")
    if speaker and prompt_wav:
        raise ValueError("give --speaker (a training speaker) or --prompt-wav (a clip's voice), not both")
    if model is None:
        from tts.loading import bundled_voice

        model = bundled_voice()
    load_start = time.perf_counter()
    synth = Synthesizer.from_run(model, **loading)
    load_seconds = time.perf_counter() - load_start
    options = synth.options(**changes)
    prompt = synth.prompt_from_wav(prompt_wav, prompt_text or "") if prompt_wav else synth.prompt_from_speaker(speaker)
    if batch is not None:
        lines = [line.strip() for line in batch.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not lines:
            raise ValueError(f"{batch} holds no lines of text")
        results = synth.synthesize_many(lines, prompt, options)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "manifest.jsonl", "w", encoding="utf-8") as manifest:
            for n, result in enumerate(results, 1):
                path = out / f"line-{n:04d}.wav"
                save_audio(path, result.wav, result.sample_rate)
                manifest.write(json.dumps({"audio": path.name, "text": result.text,
                                           "duration": round(result.duration, 3),
                                           "hit_max_length": result.hit_max_length}) + "\n")
        _report(results, load_seconds, prompt, f"{len(results)} files and manifest.jsonl in {out}")
        return
    result = synth.synthesize(sentence, prompt, options)
    save_audio(out, result.wav, result.sample_rate)
    if plot is not None:
        from tts.plot_files import plot_spectrograms

        plot_spectrograms([(result.wav, result.sample_rate, f"{out.name}: {sentence[:60]}")], plot,
                          audio=synth.recipe.audio)
    _report([result], load_seconds, prompt, f"{out}" + (f" (spectrogram {plot})" if plot else ""))


def _report(results: list, load_seconds: float, prompt, where: str) -> None:
    """What `tts synthesize` wrote, the voice, and the real-time factor with each stage's seconds."""
    audio = sum(r.duration for r in results)
    stages: dict[str, float] = {}
    for r in results:
        for key, value in r.timings.items():
            stages[key] = stages.get(key, 0.0) + value
    compute = sum(stages.values())
    typer.echo(f"wrote {where}")
    typer.echo(f"voice: {prompt.source if prompt else 'none (no prompt)'}")
    factor = f"{compute / audio:.3f}" if audio > 0 else "n/a"
    typer.echo(f"audio {audio:.2f} s, compute {compute:.2f} s (model load {load_seconds:.1f} s): "
               f"real-time factor {factor}")
    typer.echo("  " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items()))
    silent = sum(len(r.wav) == 0 for r in results)
    if silent:
        typer.secho(f"  warning: nothing was spoken for {silent} text(s): the model ended at once and the audio "
                    "is empty (an untrained or broken model?)", fg=typer.colors.YELLOW, err=True)
    hit = sum(r.hit_max_length for r in results)
    if hit:
        typer.echo(f"  warning: {hit} text(s) reached a length limit (cut there)")


@app.command()
def export(
    run: Path = typer.Argument(..., help="Trained run folder (or an exported one)."),
    out: Path = typer.Argument(..., help="Folder to write (new, empty, or an earlier export, which is replaced)."),
    dtype: str = typer.Option("fp16", "--dtype", help="Weights as fp16 (half the size), fp32, or int8 (about a "
                              "quarter: weight matrices as int8 with a scale per row, the rest fp16)."),
    overrides: Optional[List[str]] = typer.Option(None, "--set", help="A decoding default of the voice, e.g. "
                                                  "--set synthesis.pace=1.08 (repeatable; synthesis keys only)."),
) -> None:
    """Export what synthesis needs from a run: its models' weights, recipe and each speaker's reference clip."""
    from tts.export import export_run

    try:
        exported = export_run(run, out, dtype=dtype, synthesis=overrides or ())
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        fail(str(err))
    for file in exported.files:
        step = f"  {file.dtype}, step {file.step}" if file.step is not None else ""
        typer.echo(f"  {file.path:<28} {file.bytes / 1e6:8.2f} MB{step}")
    typer.echo(f"wrote {out}: the {exported.chain} chain as {exported.dtype}, {len(exported.files)} files, "
               f"{exported.total_bytes / 1e6:.2f} MB in all")


@app.command()
def voices(
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="Trained run folder, or one written by "
                                         "`tts export` (default: the bundled voice, or the folder TTS_VOICE names)."),
) -> None:
    """List the speakers a model speaks as (`tts synthesize --speaker ID`): id, voice, reference clip, its text."""
    from tts.loading import bundled_voice, load_voices

    try:
        folder = model if model is not None else bundled_voice()
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder; give a trained run or an exported one")
        found = load_voices(folder)
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    if not found:
        fail(f"{folder} has no speakers (no voices.json and no prepared corpus)")
    typer.echo(f"{len(found)} speakers of {folder}:")
    for voice in found:
        typer.echo(f"{voice.speaker:<10} {voice.name:<24} {voice.audio}  ({voice.duration:.1f} s) {voice.text}")


@app.command()
def vocode(
    source: Path = typer.Argument(..., help="A wav (copy-synthesis) or a .npy log-mel (M, T)."),
    out: Path = typer.Argument(..., help="Output wav."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="Run folder with a trained vocoder; "
                                         "without it, Griffin-Lim."),
    griffin_lim: bool = typer.Option(False, "--griffin-lim", help="Use Griffin-Lim even when a model is given."),
) -> None:
    """Turn a log-mel (or a wav's own log-mel) back into waveform with the vocoder or Griffin-Lim."""
    from tts.vocode import vocode_file

    try:
        vocode_file(source, out, model=model, griffin_lim=griffin_lim)
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        fail(str(err))
