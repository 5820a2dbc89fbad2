"""The `tts` command line: each command parses options, loads the recipe and calls one library function.

Imports of torch and friends happen inside the commands so that `tts --help` is instant.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(
    help="tts: a staged, recipe-driven text-to-speech toolkit (prepare -> train -> synthesize -> eval).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
plot_app = typer.Typer(help="PNG plots: spectrograms, training curves, code maps.", no_args_is_help=True)
eval_app = typer.Typer(help="Numbers for intelligibility and fidelity (WER, MCD, mel distance, speaker similarity).",
                       no_args_is_help=True)
app.add_typer(plot_app, name="plot")
app.add_typer(eval_app, name="eval")

SET_HELP = "Override a recipe key, e.g. --set ar.train.lr=3e-4 (repeatable; values are YAML)."
# options that tts synthesize and tts eval model share
TOP_K_OPTION = typer.Option(None, "--top-k", help="Sample among the k most likely tokens (0 = off).")
TOP_P_OPTION = typer.Option(None, "--top-p", help="Nucleus sampling mass (1 = off).")
MIN_FRAMES_PER_PHONE_OPTION = typer.Option(None, "--min-frames-per-phone", help="The AR may not end before phones "
                                           "x this frames (0 = off; default: the recipe's).")
MAX_FRAMES_PER_PHONE_OPTION = typer.Option(None, "--max-frames-per-phone", help="The AR ends (with a warning) "
                                           "after phones x this frames (default: the recipe's).")
PACE_OPTION = typer.Option(None, "--pace", help="The durations model speaks each phone this many times its "
                           "predicted length (above 1 slower; default: the recipe's).")


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Show debug messages.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _load(recipe: Path, overrides: Optional[List[str]]):
    from tts.config import load_recipe

    try:
        return load_recipe(recipe, overrides or [])
    except (ValueError, FileNotFoundError) as err:
        _fail(str(err), 2)


@app.command()
def text(
    sentence: str = typer.Argument(..., help="Text to normalise and convert to phones."),
    as_json: bool = typer.Option(False, "--json", help='Print {"normalized": ..., "phones": [...]}.'),
) -> None:
    """Show what the text front end makes of a sentence: normalised words and ARPAbet phones."""
    from tts.text import UnspeakableTextError, text_to_phones

    try:
        normalized, phones = text_to_phones(sentence)
    except UnspeakableTextError as err:
        _fail(str(err), 2)
    if as_json:
        typer.echo(json.dumps({"normalized": normalized, "phones": phones}))
    else:
        typer.echo(normalized)
        typer.echo(" ".join(phones))


@app.command()
def prepare(
    recipe: Path = typer.Argument(..., help="Recipe YAML (see recipes/)."),
    overrides: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
    workers: int = typer.Option(1, "--workers", "-j", help="Parallel worker processes."),
    shard: Optional[str] = typer.Option(None, "--shard", help="Prepare one shard i/N only (0-based), "
                                        "e.g. 3/16 in a cluster job array; then run --merge once."),
    merge: bool = typer.Option(False, "--merge", help="Only merge finished shards into the manifest."),
) -> None:
    """Prepare a corpus: text, phones, audio, codec codes, mels, manifest, split, drop report."""
    cfg = _load(recipe, overrides)
    from tts.data.prepare import PrepareError, prepare_corpus

    try:
        prepare_corpus(cfg, workers=workers, shard=shard, merge_only=merge)
    except PrepareError as err:
        _fail(str(err))


@app.command()
def train(
    recipe: Path = typer.Argument(..., help="Recipe YAML (see recipes/)."),
    stage: Optional[List[str]] = typer.Option(None, "--stage", "-s",
                                              help="Stage to train: vocoder, codec, codec_vocoder, ar, nar, aligner, "
                                                   "durations or durations_vocoder (repeatable; default: the "
                                                   "recipe's stages)."),
    overrides: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
) -> None:
    """Train the recipe's stages with checkpoints, exact resume, validation and samples."""
    cfg = _load(recipe, overrides)
    from tts.train.stages import train_stages
    from tts.train.stopping import TrainingStopped

    try:
        train_stages(cfg, stages=stage or list(cfg.stages))
    except TrainingStopped as err:
        _fail(str(err), err.exit_code)  # 143 for SIGTERM, 130 for SIGINT, as the shell reports a signal
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        _fail(str(err))


@app.command()
def run(
    recipe: Path = typer.Argument(..., help="Recipe YAML (see recipes/)."),
    overrides: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
    workers: int = typer.Option(1, "--workers", "-j", help="Parallel workers for prepare."),
) -> None:
    """Run a whole recipe: prepare, then every stage; finished steps are skipped."""
    cfg = _load(recipe, overrides)
    from tts.pipeline import run_recipe
    from tts.train.stopping import TrainingStopped

    try:
        run_recipe(cfg, workers=workers)
    except TrainingStopped as err:
        _fail(str(err), err.exit_code)
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        _fail(str(err))


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
    temperature: Optional[float] = typer.Option(None, help="AR sampling temperature (0 = greedy)."),
    top_k: Optional[int] = TOP_K_OPTION,
    top_p: Optional[float] = TOP_P_OPTION,
    min_frames_per_phone: Optional[float] = MIN_FRAMES_PER_PHONE_OPTION,
    max_frames_per_phone: Optional[float] = MAX_FRAMES_PER_PHONE_OPTION,
    seed: Optional[int] = typer.Option(None, help="Random seed for sampling."),
    pace: Optional[float] = PACE_OPTION,
    decoder: Optional[str] = typer.Option(None, help="AR chain: codec (its decoder) or vocoder (a vocoder fine-tuned "
                                          "on the codec's log-mels)."),
    batch: Optional[Path] = typer.Option(None, "--batch", help="A text file, one line per utterance."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also write a spectrogram PNG of the result."),
    quantize: Optional[str] = typer.Option(None, "--quantize", help="int8: dynamic int8 linear layers on CPU."),
    no_kv_cache: bool = typer.Option(False, "--no-kv-cache", help="Recompute the prefix every step (slow; for comparison)."),
    device: str = typer.Option("cpu", help="cpu, cuda or auto."),
) -> None:
    """Speak text with a trained model, optionally in the voice of a reference clip; prints the real-time factor."""
    if batch is not None and sentence is not None and out == Path("out.wav"):
        sentence, out = None, Path(sentence)  # `tts synthesize --batch lines.txt OUT_DIR`
    changes = {"temperature": temperature, "top_k": top_k, "top_p": top_p, "seed": seed, "pace": pace,
               "min_frames_per_phone": min_frames_per_phone, "max_frames_per_phone": max_frames_per_phone,
               "decoder": decoder, "kv_cache": False if no_kv_cache else None}
    try:
        _check_synthesize_inputs(out if batch is None else None, changes)
    except ValueError as err:
        _fail(str(err), 2)
    try:
        _synthesize(sentence, out, model, prompt_wav, prompt_text, speaker, changes, batch, plot, quantize, device)
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        _fail(str(err))


def _check_synthesize_inputs(out: Optional[Path], changes: dict) -> None:
    """ValueError for an output file that cannot be written or an option out of its range, before any model loads."""
    import dataclasses

    from tts.audio.io import check_output_path
    from tts.config import ConfigError, SynthesisConfig

    if out is not None:
        check_output_path(out)
    # each option against its own range; the frames-per-phone pair is checked against the run's recipe once loaded
    alone = {k: v for k, v in changes.items()
             if v is not None and k not in ("min_frames_per_phone", "max_frames_per_phone", "decoder")}
    try:
        dataclasses.replace(SynthesisConfig(), **alone).validate()
    except ConfigError as err:
        option = "--" + err.key.replace("_", "-")
        raise ValueError(f"{option} {err.value!r} is invalid (synthesis.{err.key}): {err.allowed}") from None


def _synthesize(sentence: Optional[str], out: Path, model: Optional[Path], prompt_wav: Optional[Path],
                prompt_text: Optional[str], speaker: Optional[str], changes: dict, batch: Optional[Path],
                plot: Optional[Path], quantize: Optional[str], device: str) -> None:
    """One text to one wav, or --batch lines to a folder with a manifest; `changes` to the recipe's options."""
    import time

    from tts.audio.io import save_audio
    from tts.synthesize import Synthesizer

    if (sentence is None) == (batch is None):
        raise ValueError("give either a text to speak or --batch lines.txt (not both)")
    if changes.get("decoder") not in (None, "codec", "vocoder"):
        raise ValueError(f"--decoder {changes['decoder']!r}: use codec or vocoder")
    if prompt_text and not prompt_wav:
        raise ValueError("--prompt-text goes with --prompt-wav")
    if speaker and prompt_wav:
        raise ValueError("give --speaker (a training speaker) or --prompt-wav (a clip's voice), not both")
    if model is None:
        from tts.loading import bundled_voice

        model = bundled_voice()
    load_start = time.perf_counter()
    synth = Synthesizer.from_run(model, device=device, quantize=quantize)
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
    dtype: str = typer.Option("fp16", "--dtype", help="Weights as fp16 (half the size) or fp32."),
) -> None:
    """Export what synthesis needs from a run: its models' weights, recipe and each speaker's reference clip."""
    from tts.export import export_run

    try:
        exported = export_run(run, out, dtype=dtype)
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        _fail(str(err))
    for file in exported.files:
        step = f"  (step {file.step})" if file.step is not None else ""
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
        _fail(str(err))
    if not found:
        _fail(f"{folder} has no speakers (no voices.json and no prepared corpus)")
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
        _fail(str(err))


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

    audio = _load(recipe, []).audio if recipe else AudioConfig()
    try:
        plot_spectrogram_files(files, output, audio=audio, linear=linear)
    except (AudioError, FileNotFoundError) as err:
        _fail(str(err))
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
        _fail(str(err))
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
        _fail(str(err))
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
    from tts.eval.run import evaluate_folder, print_summary

    try:
        result = evaluate_folder(folder, reference=reference, prompts=prompts, mos=mos, save_audio=save_audio)
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        _fail(str(err))
    print_summary(result)
    if output:
        output.write_text(json.dumps(result, indent=2))
        typer.echo(f"wrote {output}")


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
    temperature: Optional[float] = typer.Option(None, help="AR sampling temperature (0 = greedy; default: the recipe's)."),
    top_k: Optional[int] = TOP_K_OPTION,
    top_p: Optional[float] = TOP_P_OPTION,
    min_frames_per_phone: Optional[float] = MIN_FRAMES_PER_PHONE_OPTION,
    max_frames_per_phone: Optional[float] = MAX_FRAMES_PER_PHONE_OPTION,
    pace: Optional[float] = PACE_OPTION,
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
    from tts.eval.run import evaluate_model, print_summary

    try:
        result = evaluate_model(model, limit=limit, prompt=prompt, what=what, seed=seed, checkpoint=checkpoint,
                                sampling={"temperature": temperature, "top_k": top_k, "top_p": top_p,
                                          "min_frames_per_phone": min_frames_per_phone,
                                          "max_frames_per_phone": max_frames_per_phone, "pace": pace},
                                codebooks=codebooks, quantize=quantize, mos=mos, save_audio=save_audio)
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        _fail(str(err))
    print_summary(result)
    if output:
        output.write_text(json.dumps(result, indent=2))
        typer.echo(f"wrote {output}")


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
