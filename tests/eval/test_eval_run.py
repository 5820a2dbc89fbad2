"""`tts eval folder` through the CLI, folder and manifest inputs, and `evaluate_model` plumbing."""

import json
import shutil
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from eval_fixtures import OTHER_SENTENCE, SENTENCE, read
from typer.testing import CliRunner

from tts.cli import app
from tts.eval.run import evaluate_model, read_items
from tts.eval.summary import summary_lines

TEXTS = {"1": SENTENCE, "2": OTHER_SENTENCE}


def write_folder(folder: Path, clips: dict, names: list[str], text: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(clips[name], folder / f"{name}.wav")
        if text:
            (folder / f"{name}.txt").write_text(TEXTS[name[-1]] + "\n")
    return folder


def test_eval_folder_cli_with_references_and_prompts(clips, tmp_path):
    # "synthesis" and reference: the same rms clip; prompt: another voice (slt)
    outputs = write_folder(tmp_path / "out", clips, ["rms_1"])
    references = write_folder(tmp_path / "ref", clips, ["rms_1"], text=False)
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    shutil.copy(clips["slt_1"], prompts / "rms_1.wav")
    output = tmp_path / "result.json"
    result = CliRunner().invoke(app, ["eval", "folder", str(outputs), "--reference", str(references),
                                      "--prompts", str(prompts), "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert "WER" in result.output and "floor WER" in result.output and "MCD" in result.output
    data = json.loads(output.read_text())
    total = data["aggregate"]
    assert total["utterances"] == 1
    assert total["wer"] < 0.5
    assert total["floor_wer"] == pytest.approx(total["wer"])  # same audio as the reference
    assert total["mcd"] == pytest.approx(0.0, abs=1e-3)
    assert total["mel_distance"] == pytest.approx(0.0, abs=1e-3)
    assert total["duration_ratio"] == pytest.approx(1.0)
    (utterance,) = data["utterances"]
    assert utterance["hypothesis"] and utterance["reference_hypothesis"] == utterance["hypothesis"]
    assert utterance["reference_similarity"] == pytest.approx(1.0, abs=1e-4)
    assert utterance["prompt_similarity"] < 0.9


def test_eval_folder_without_reference_uses_phone_count(clips, tmp_path):
    outputs = write_folder(tmp_path / "out", clips, ["slt_2"])
    output = tmp_path / "result.json"
    result = CliRunner().invoke(app, ["eval", "folder", str(outputs), "-o", str(output)])
    assert result.exit_code == 0, result.output
    utterance = json.loads(output.read_text())["utterances"][0]
    assert utterance["duration_basis"] == "phones"
    assert 0.5 < utterance["duration_ratio"] < 2.0
    assert "mcd" not in utterance


def test_eval_folder_cli_errors(tmp_path):
    result = CliRunner().invoke(app, ["eval", "folder", str(tmp_path)])
    assert result.exit_code != 0
    assert "nothing to score" in result.output
    result = CliRunner().invoke(app, ["eval", "folder", str(tmp_path / "missing")])
    assert result.exit_code != 0 and "does not exist" in result.output


def test_read_items_from_manifests(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"")
    rows = [{"audio": "a.wav", "text": "hello", "speaker": "s1", "reference": "ref/a.wav"},
            {"audio": "b.wav", "text": "world", "id": "bee", "prompt": "p.wav"}]
    (tmp_path / "manifest.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    items = read_items(tmp_path)
    assert [i.id for i in items] == ["a", "bee"]
    assert items[0].speaker == "s1" and items[0].reference == tmp_path / "ref" / "a.wav"
    assert items[1].prompt == tmp_path / "p.wav" and items[1].speaker is None
    tsv = tmp_path / "list.tsv"
    tsv.write_text("audio\ttext\tspeaker\na.wav\thello there\tx\n")
    (item,) = read_items(tsv)
    assert (item.text, item.speaker, item.audio) == ("hello there", "x", tmp_path / "a.wav")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"audio": "a.wav"}) + "\n")
    with pytest.raises(ValueError, match="text"):
        read_items(bad)


def test_read_items_pairs_and_reference_matching(tmp_path):
    for name in ("x", "y", "z"):
        (tmp_path / f"{name}.wav").write_bytes(b"")
    (tmp_path / "x.txt").write_text("one\n")
    (tmp_path / "y.txt").write_text("two\n")  # z has no transcript: left out with a warning
    references = tmp_path / "refs"
    references.mkdir()
    (references / "x.flac").write_bytes(b"")
    items = read_items(tmp_path, reference=references)
    assert [(i.id, i.text) for i in items] == [("x", "one"), ("y", "two")]
    assert items[0].reference == references / "x.flac" and items[1].reference is None
    with pytest.raises(FileNotFoundError, match="prompt"):
        read_items(tmp_path, prompts=tmp_path / "refs" / "none")


# --------------------------------------------------------------------------- evaluate_model


class FakeCorpus:
    """Two speakers (slt, rms), each with two held-out and two training utterances."""

    def __init__(self, clips: dict):
        self.folder = Path("fake")
        self.sample_rate = 16000
        self._audio, self._records = {}, []
        for speaker in ("slt", "rms"):
            for split in ("validation", "train"):
                for number in ("1", "2"):
                    utt = f"{speaker}_{split}_{number}"
                    self._audio[utt] = read(clips[f"{speaker}_{number}"])[0]
                    self._records.append({"id": utt, "speaker": speaker, "text": TEXTS[number], "split": split})

    @property
    def speakers(self):
        return ["rms", "slt"]

    def records(self, split="all"):
        return [r for r in self._records if split == "all" or r["split"] == split]

    def audio(self, record):
        return self._audio[record["id"]]


@pytest.fixture
def run_dir(tmp_path, clips, monkeypatch):
    from tts.config import Recipe, save_recipe

    save_recipe(Recipe(output_dir=str(tmp_path)), tmp_path / "recipe.yaml")
    corpus = FakeCorpus(clips)
    monkeypatch.setattr("tts.data.corpus.PreparedCorpus", lambda folder: corpus)
    return tmp_path


def test_evaluate_model_original_is_the_floor(run_dir):
    result = evaluate_model(run_dir, limit=2, prompt=True, what="original", seed=0)
    json.dumps(result)  # serialisable as it is
    assert result["what"] == "original"
    assert {u["speaker"] for u in result["utterances"]} == {"slt", "rms"}  # round-robin over speakers
    assert set(result["per_speaker"]) == {"slt", "rms"}
    assert result["aggregate"]["wer"] < 0.5
    assert "floor_wer" not in result["aggregate"]  # the WER is the floor itself
    for utterance in result["utterances"]:
        assert utterance["prompt_id"] != utterance["id"] and utterance["prompt_id"].startswith(utterance["speaker"])
        assert utterance["speaker_identified"]  # real audio is closest to its own speaker
    scale = result["speaker_scale"]
    assert scale["same_speaker"] > scale["different_speaker"]
    assert any("recogniser's floor" in line for line in summary_lines(result))


@dataclass
class FakeResult:
    wav: np.ndarray
    sample_rate: int
    hit_max_length: bool
    timings: dict = field(default_factory=dict)


def test_evaluate_model_synthesizes_and_reports_max_length(run_dir, clips, monkeypatch):
    calls = []

    quantized = []

    class FakeSynthesizer:
        steps = {"nar": 1250}

        @classmethod
        def from_run(cls, model_dir, device, quantize=None):
            assert Path(model_dir) == run_dir and device == "cpu"
            quantized.append(quantize)
            return cls()

        def options(self, **changes):
            return changes

        def prompt_from_wav(self, path, text):
            assert Path(path).is_file() and text
            return ("wav", text)

        def prompt_from_speaker(self, speaker=None):
            return ("speaker", speaker)

        def synthesize(self, text, prompt=None, options=None):
            calls.append((text, prompt, options))
            wrong = "slt_2" if text == SENTENCE else "slt_1"  # the other sentence, always in slt's voice
            wav, rate = read(clips[wrong])
            return FakeResult(wav, rate, hit_max_length=len(calls) == 1)

    monkeypatch.setitem(sys.modules, "tts.synthesize", types.SimpleNamespace(Synthesizer=FakeSynthesizer))
    result = evaluate_model(run_dir, limit=2, prompt=True, what="model", seed=1, device="cpu")
    total = result["aggregate"]
    by_id = {u["id"]: u for u in result["utterances"]}
    for text, prompt, _ in calls:  # prompted with another utterance (and its transcript) of the speaker
        assert prompt[0] == "wav" and prompt[1] != text
    assert all(u["prompt_id"] != u["id"] and u["prompt_similarity"] is not None for u in by_id.values())
    assert sorted(options["seed"] for _, _, options in calls) == [1, 2]
    assert total["hit_max_length"] == pytest.approx(0.5) and total["hit_max_length_count"] == 1
    assert total["floor_wer"] < 0.5  # the original audio is understood ...
    assert total["wer"] > 0.8  # ... the fake says another sentence
    per_speaker = result["per_speaker"]
    assert per_speaker["slt"]["similarity_same_speaker"] > per_speaker["rms"]["similarity_same_speaker"]
    assert "hit max length" in "\n".join(summary_lines(result))
    assert result["sampling"] == {}  # the recipe's sampling
    assert result["model_steps"] == {"nar": 1250}
    assert not any("model_steps" in u for u in result["utterances"])  # said once, not per utterance

    calls.clear()
    result = evaluate_model(run_dir, limit=1, prompt=False, what="model", device="cpu",
                            sampling={"temperature": 0.7, "top_k": 20, "top_p": None})
    assert calls[0][2] == {"seed": 0, "temperature": 0.7, "top_k": 20}
    assert result["sampling"] == {"temperature": 0.7, "top_k": 20}
    with pytest.raises(ValueError, match="apply to --what model"):
        evaluate_model(run_dir, limit=1, what="codec", sampling={"top_k": 5})
    calls.clear()
    evaluate_model(run_dir, limit=1, prompt=False, what="model", device="cpu",
                   sampling={"min_frames_per_phone": 1.3, "max_frames_per_phone": 3.0})
    assert calls[0][2] == {"seed": 0, "min_frames_per_phone": 1.3, "max_frames_per_phone": 3.0}
    with pytest.raises(ValueError, match="apply to --what model"):
        evaluate_model(run_dir, limit=1, what="nar", sampling={"min_frames_per_phone": 1.0})
    with pytest.raises(ValueError, match=r"\(pace\) apply to --what model, not durations \(--what durations takes"):
        evaluate_model(run_dir, limit=1, what="durations", sampling={"pace": 1.2, "refiner_steps": 3})
    result = evaluate_model(run_dir, limit=1, prompt=False, what="model", device="cpu", quantize="int8")
    assert quantized[-1] == "int8" and result["quantize"] == "int8"
    with pytest.raises(ValueError, match="--quantize applies"):
        evaluate_model(run_dir, limit=1, what="vocoder", quantize="int8")


def test_evaluate_model_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="what"):
        evaluate_model(tmp_path, what="nonsense")
    with pytest.raises(FileNotFoundError, match="prepare"):
        evaluate_model(tmp_path, what="original")


def test_evaluate_model_codec_resynthesis(run_dir, monkeypatch):
    seen_levels = []

    class IdentityCodec:  # a perfect codec: resynthesis is the original
        sample_rate = 16000

        def __call__(self, wav, levels=None):
            seen_levels.append(levels)
            return wav.clone()

    monkeypatch.setattr("tts.codec.load_codec", lambda recipe, device: IdentityCodec())
    result = evaluate_model(run_dir, limit=1, prompt=False, what="codec", device="cpu")
    total = result["aggregate"]
    assert total["wer"] == pytest.approx(total["floor_wer"])
    assert total["mcd"] == pytest.approx(0.0, abs=1e-3) and total["mel_distance"] == pytest.approx(0.0, abs=1e-3)
    result = evaluate_model(run_dir, limit=1, prompt=False, what="codec", device="cpu", codebooks=2)
    assert seen_levels == [None, 2] and result["codebooks"] == 2
    with pytest.raises(ValueError, match="--codebooks applies"):
        evaluate_model(run_dir, limit=1, what="vocoder", codebooks=2)
    assert total["duration_ratio"] == pytest.approx(1.0)
    assert "synthesis_rtf" in total


def test_evaluate_model_vocoder_copy_synthesis_untrained(run_dir, monkeypatch):
    import torch

    from tts.config import Recipe
    from tts.models.vocoder import build_generator
    from tts.vocode import Vocoder

    torch.manual_seed(0)
    recipe = Recipe()
    untrained = Vocoder(build_generator(recipe).eval(), recipe, {}, run_dir / "vocoder" / "best.pt", torch.device("cpu"))
    monkeypatch.setattr("tts.vocode.load_vocoder", lambda folder, device: untrained)
    result = evaluate_model(run_dir, limit=1, prompt=False, what="vocoder", device="cpu")
    (utterance,) = result["utterances"]
    assert utterance["wer"] > 0.8 and utterance["reference_wer"] < 0.5  # noise is not understood
    assert utterance["mcd"] > 5.0


def test_evaluate_model_griffin_lim_baseline(run_dir):
    from tts.config import Recipe, save_recipe

    save_recipe(Recipe(), run_dir / "recipe.yaml")
    result = evaluate_model(run_dir, limit=1, prompt=False, what="griffin_lim", device="cpu")
    (utterance,) = result["utterances"]
    # Griffin-Lim keeps the magnitude: far closer to the reference than noise, though not identical
    assert 0.0 < utterance["mcd"] < 20.0  # an untrained vocoder scores ~66 dB here
    assert utterance["wer"] <= 0.5


def test_evaluate_model_scores_a_chosen_checkpoint(run_dir, monkeypatch, tmp_path):
    seen = {}

    class IdentityCodec:
        sample_rate = 16000

        def __call__(self, wav, levels=None):
            return wav.clone()

    def fake_load_codec(recipe, device):
        seen["codec"] = recipe.codec.checkpoint
        return IdentityCodec()

    chosen = tmp_path / "ckpt-1500.pt"
    chosen.write_bytes(b"")
    monkeypatch.setattr("tts.codec.load_codec", fake_load_codec)
    result = evaluate_model(run_dir, limit=1, prompt=False, what="codec", device="cpu", checkpoint=chosen)
    assert seen["codec"] == str(chosen) and result["checkpoint"] == str(chosen)

    def fake_load_vocoder(source, device):
        seen["vocoder"] = source
        raise RuntimeError("stop here")

    monkeypatch.setattr("tts.vocode.load_vocoder", fake_load_vocoder)
    with pytest.raises(RuntimeError, match="stop here"):
        evaluate_model(run_dir, limit=1, prompt=False, what="vocoder", device="cpu", checkpoint=chosen)
    assert seen["vocoder"] == chosen
    with pytest.raises(ValueError, match="--checkpoint applies"):
        evaluate_model(run_dir, what="model", checkpoint=chosen)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        evaluate_model(run_dir, what="codec", checkpoint=tmp_path / "missing.pt")


def test_evaluate_model_nar_durations_and_ar_start_from_the_truth(run_dir, clips, monkeypatch):
    import tts.eval.generators as generators
    import tts.loading

    class CodedCorpus(FakeCorpus):
        has_codes = True

        def __init__(self, clips):
            super().__init__(clips)
            for r in self._records:
                r["phones"] = ["HH", "AH0", "L", "OW1", "."]

        def codes(self, record):
            n = next(i for i, r in enumerate(self._records) if r["id"] == record["id"])
            return np.stack([np.full(7, n), np.zeros(7, dtype=np.int64)])  # (Q=2, T): codebook 1 = its index

    corpus = CodedCorpus(clips)
    monkeypatch.setattr("tts.data.corpus.PreparedCorpus", lambda folder: corpus)
    chains = {"ar": types.SimpleNamespace(recipe=None, codec=types.SimpleNamespace(sample_rate=16000), name="ar"),
              "durations": types.SimpleNamespace(recipe=None, codec=types.SimpleNamespace(sample_rate=16000),
                                                 name="durations")}
    monkeypatch.setattr(tts.loading, "load_ar_chain", lambda run, device: (chains["ar"], {"ar": 1, "nar": 2}))
    monkeypatch.setattr(tts.loading, "load_durations_chain", lambda run, device: (chains["durations"], {}))
    monkeypatch.setattr(generators, "_prompt_voice", lambda synthesizer, record, audio, speaker: ("wav", record["id"]))
    heard = {"nar": [], "ar": [], "durations": []}
    told = {"ar": [], "durations": []}  # the aligner durations each was given
    refiner_steps = []  # what the durations model's refiner was told

    def hearing(what):
        def speak(chain, phones, truth, *rest, **options):
            prompt = rest[-1]  # (durations, prompt) for ar; the durations themselves are `truth` for durations
            assert chain.name == ("durations" if what == "durations" else "ar") and prompt[0] == "wav"
            heard[what].append((phones, truth.tolist()))
            if what == "durations":
                refiner_steps.append(options["refiner_steps"])
            if what == "ar":
                told["ar"].append(rest[0].tolist())
            return read(clips["slt_1"])[0]
        return speak

    monkeypatch.setattr(generators, "speak_first_level", hearing("nar"))
    monkeypatch.setattr(generators, "hear_ar_forced", hearing("ar"))
    monkeypatch.setattr(generators, "speak_durations", hearing("durations"))
    index = {r["id"]: i for i, r in enumerate(corpus.records())}
    # the AR (told each frame's phone) and the durations model read <run>/aligner/durations.npz
    for what in ("ar", "durations"):
        with pytest.raises(FileNotFoundError, match="durations.npz is missing"):
            evaluate_model(run_dir, limit=1, what=what, device="cpu")
    ids = [r["id"] for r in corpus.records()]
    (run_dir / "aligner").mkdir(exist_ok=True)
    np.savez(run_dir / "aligner" / "durations.npz", ids=np.asarray(ids), lengths=np.full(len(ids), 5),
             durations=np.tile(np.asarray([2, 1, 2, 2, 0], dtype=np.int16), len(ids)), aligner_step=1)
    for what in ("nar", "ar"):
        result = evaluate_model(run_dir, limit=2, prompt=True, what=what, device="cpu")
        assert result["what"] == what and len(heard[what]) == 2
        for phones, first in heard[what]:
            assert phones[-1] == "." and len(set(first)) == 1 and len(first) == 7
        chosen = [u["id"] for u in result["utterances"]]
        assert [first[0] for _, first in heard[what]] == [index[i] for i in chosen]  # each one's own codebook 1
    assert told["ar"] == [[2, 1, 2, 2, 0]] * 2
    with pytest.raises(ValueError, match="apply to --what model"):
        evaluate_model(run_dir, limit=1, what="nar", device="cpu", sampling={"top_k": 5})
    result = evaluate_model(run_dir, limit=2, prompt=True, what="durations", device="cpu")
    assert result["what"] == "durations" and [d for _, d in heard["durations"]] == [[2, 1, 2, 2, 0]] * 2
    assert refiner_steps == [None, None]  # the recipe's
    result = evaluate_model(run_dir, limit=1, what="durations", device="cpu", sampling={"refiner_steps": 9})
    assert refiner_steps[-1] == 9 and result["sampling"] == {"refiner_steps": 9}
    with pytest.raises(ValueError, match="at least 1 Euler step"):
        evaluate_model(run_dir, limit=1, what="durations", device="cpu", sampling={"refiner_steps": 0})
    corpus.has_codes = False
    for what in ("nar", "ar"):
        with pytest.raises(RuntimeError, match=f"--what {what} starts from the true codebook 1"):
            evaluate_model(run_dir, limit=1, what=what, device="cpu")


# --------------------------------------------------------------------------- DNSMOS and --save-audio


def test_evaluate_model_reports_dnsmos_of_outputs_and_recordings(run_dir, monkeypatch):
    class NoisyCodec:  # resynthesis that adds loud white noise: less natural than the recording
        sample_rate = 16000

        def __call__(self, wav, levels=None):
            import torch

            generator = torch.Generator().manual_seed(0)
            return (wav + 0.1 * torch.randn(wav.shape, generator=generator)).clamp(-1, 1)

    monkeypatch.setattr("tts.codec.load_codec", lambda recipe, device: NoisyCodec())
    result = evaluate_model(run_dir, limit=1, prompt=False, what="codec", device="cpu")
    (utterance,) = result["utterances"]
    for key in ("sig", "bak", "ovrl", "p808"):
        for prefix in ("", "reference_"):
            assert 1.0 <= utterance[f"{prefix}dnsmos_{key}"] <= 5.0
            assert result["aggregate"][f"{prefix}dnsmos_{key}"] == pytest.approx(utterance[f"{prefix}dnsmos_{key}"])
    assert utterance["dnsmos_p808"] < utterance["reference_dnsmos_p808"] - 0.5
    assert utterance["dnsmos_bak"] < utterance["reference_dnsmos_bak"] - 1.0
    lines = "\n".join(summary_lines(result))
    assert "DNSMOS           SIG" in lines and "DNSMOS reference SIG" in lines
    # the original is scored as the output itself: no reference beside it
    result = evaluate_model(run_dir, limit=1, prompt=False, what="original", device="cpu")
    (utterance,) = result["utterances"]
    assert utterance["dnsmos_p808"] > 3.0 and "reference_dnsmos_p808" not in utterance
    result = evaluate_model(run_dir, limit=1, prompt=False, what="original", device="cpu", mos=False)
    assert not any("dnsmos" in key for key in result["utterances"][0]) and result["settings"]["dnsmos"] is None


def test_eval_folder_save_audio_keeps_what_was_scored(clips, tmp_path):
    outputs = write_folder(tmp_path / "out", clips, ["rms_1", "slt_2"])
    references = write_folder(tmp_path / "ref", clips, ["rms_1", "slt_2"], text=False)
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    shutil.copy(clips["slt_1"], prompts / "rms_1.wav")  # slt_2 has no prompt
    saved, output = tmp_path / "listen" / "here", tmp_path / "result.json"
    result = CliRunner().invoke(app, ["eval", "folder", str(outputs), "--reference", str(references), "--prompts",
                                      str(prompts), "--no-mos", "--save-audio", str(saved), "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert f"saved audio      {saved}" in result.output
    scored = {u["id"]: u for u in json.loads(output.read_text())["utterances"]}
    rows = {row["id"]: row for row in map(json.loads, (saved / "manifest.jsonl").read_text().splitlines())}
    assert set(rows) == set(scored) == {"rms_1", "slt_2"}
    for name, row in rows.items():
        kept, rate = read(saved / f"{name}.wav")
        original, original_rate = read(clips[name])
        assert rate == original_rate and np.allclose(kept, original, atol=1e-4)  # the scored audio, 16-bit
        assert (saved / f"{name}.txt").read_text().strip() == TEXTS[name[-1]] == row["text"]
        assert row["audio"] == f"{name}.wav" and row["reference"] == str((references / f"{name}.wav").resolve())
        assert row["wer"] == scored[name]["wer"] and row["hypothesis"] == scored[name]["hypothesis"]
    assert rows["rms_1"]["prompt"] == str((prompts / "rms_1.wav").resolve()) and rows["rms_1"]["prompt_id"] == "rms_1"
    assert rows["slt_2"]["prompt"] is None and rows["slt_2"]["prompt_id"] is None
    assert not list(saved.glob(".*"))  # no temporary files left behind
    # the saved folder is itself a folder to score: its manifest names the references and prompts
    items = {item.id: item for item in read_items(saved)}
    assert items["rms_1"].reference == (references / "rms_1.wav").resolve()
    assert items["rms_1"].prompt == (prompts / "rms_1.wav").resolve() and items["slt_2"].prompt is None

    (tmp_path / "a_file").write_text("")
    for target, message in ((tmp_path / "a_file", "is a file"), (outputs, "holds the audio being scored"),
                            (references, "holds the audio being scored")):
        result = CliRunner().invoke(app, ["eval", "folder", str(outputs), "--reference", str(references),
                                          "--no-mos", "--save-audio", str(target)])
        assert result.exit_code != 0 and message in result.output
    assert sorted(p.name for p in references.iterdir()) == ["rms_1.wav", "slt_2.wav"]  # nothing written there


def test_eval_model_save_audio_keeps_outputs_recordings_and_prompts(run_dir, clips, monkeypatch, tmp_path):
    corpus = FakeCorpus(clips)
    for record in corpus.records():
        record["audio_path"] = f"corpus/{record['id']}.flac"
    monkeypatch.setattr("tts.data.corpus.PreparedCorpus", lambda folder: corpus)
    spoken = {}

    class FakeSynthesizer:
        steps = {}

        @classmethod
        def from_run(cls, model_dir, device, quantize=None):
            return cls()

        def options(self, **changes):
            return changes

        def prompt_from_wav(self, path, text):
            return ("wav", text)

        def synthesize(self, text, prompt=None, options=None):
            wav, rate = read(clips["slt_2" if text == SENTENCE else "slt_1"])  # the other sentence
            spoken[text] = wav
            return FakeResult(wav, rate, hit_max_length=False)

    monkeypatch.setitem(sys.modules, "tts.synthesize", types.SimpleNamespace(Synthesizer=FakeSynthesizer))
    saved, output = tmp_path / "saved", tmp_path / "result.json"
    result = CliRunner().invoke(app, ["eval", "model", str(run_dir), "--limit", "2", "--no-mos",
                                      "--save-audio", str(saved), "-o", str(output)])
    assert result.exit_code == 0, result.output
    scored = {u["id"]: u for u in json.loads(output.read_text())["utterances"]}
    rows = [json.loads(line) for line in (saved / "manifest.jsonl").read_text().splitlines()]
    assert [row["id"] for row in rows] == list(scored) and len(rows) == 2
    for row in rows:
        name, record = row["id"], next(r for r in corpus.records() if r["id"] == row["id"])
        assert np.allclose(read(saved / f"{name}.wav")[0], spoken[record["text"]], atol=1e-4)
        assert (saved / f"{name}.txt").read_text().strip() == record["text"] == row["text"]
        assert row["reference"] == f"references/{name}.wav" and row["recording"] == f"corpus/{name}.flac"
        assert np.allclose(read(saved / row["reference"])[0], corpus.audio(record), atol=1e-4)
        prompt_id = scored[name]["prompt_id"]
        assert row["prompt_id"] == prompt_id and row["prompt"] == f"prompts/{prompt_id}.wav"
        assert row["prompt_recording"] == f"corpus/{prompt_id}.flac"
        prompt = next(r for r in corpus.records() if r["id"] == prompt_id)
        assert np.allclose(read(saved / row["prompt"])[0], corpus.audio(prompt), atol=1e-4)
        assert row["wer"] == scored[name]["wer"] and row["wer"] > 0.5  # the fake says the other sentence
    items = read_items(saved)  # scored again as a folder, with its recordings and prompts
    assert [i.reference for i in items] == [saved / "references" / f"{row['id']}.wav" for row in rows]
    result = CliRunner().invoke(app, ["eval", "model", str(run_dir), "--save-audio", str(output)])
    assert result.exit_code != 0 and "is a file" in result.output
