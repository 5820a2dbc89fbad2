"""The synthesis pipelines on tiny random-weight models: shapes, options, prompts, errors, loading a run."""

import dataclasses
import json
import math
import types

import numpy as np
import pytest
import torch
from synthesis_fixtures import RecordingMelVocoder

from tts.codec import Codec, trained_settings
from tts.config import SynthesisConfig, recipe_from_dict
from tts.models.ar import ARModel
from tts.models.codec_model import CodecModel
from tts.models.durations import DurationsModel
from tts.models.layers import TransformerShape
from tts.models.nar import NARModel
from tts.synthesize import ARChain, DurationsChain, Prompt, Synthesizer
from tts.text import UnspeakableTextError
from tts.text.symbols import N_SYMBOLS

RECIPE = {"codec": {"strides": [8, 5, 4, 4], "channels": 4, "dimension": 16, "lstm_layers": 0,
                    "n_codebooks": 3, "codebook_size": 32},
          "synthesis": {"max_frames_per_phone": 2.0}}
SHAPE = TransformerShape(width=32, layers=1, heads=2, dropout=0.0, max_positions=512)


def tiny_codec(recipe):
    settings = trained_settings(recipe)
    return Codec(CodecModel.from_settings(settings), settings)


def tiny_synthesizer() -> Synthesizer:
    """The AR chain of random tiny models: an AR and a NAR over a tiny codec."""
    torch.manual_seed(0)
    recipe = recipe_from_dict(RECIPE)
    ar, nar = ARModel(N_SYMBOLS, 32, SHAPE).eval(), NARModel(N_SYMBOLS, 32, 3, SHAPE).eval()
    return Synthesizer(ARChain(recipe, ar, nar, tiny_codec(recipe)))


def tiny_durations_synthesizer(vocoder) -> Synthesizer:
    """The durations chain of a random tiny durations model (4 mel frames a codec frame) and a mel vocoder."""
    torch.manual_seed(0)
    recipe = recipe_from_dict(RECIPE)
    model = DurationsModel(N_SYMBOLS, 32, 3, SHAPE, mel_bins=80, mel_per_frame=4).eval()
    return Synthesizer(DurationsChain(recipe, model, tiny_codec(recipe), vocoder))


@pytest.fixture(scope="module")
def synth():
    return tiny_synthesizer()


def test_speaks_a_sentence_with_the_codec(synth):
    result = synth.synthesize("Hello there.", options=synth.options(seed=1))
    assert result.wav.dtype == np.float32 and result.wav.ndim == 1
    assert result.sample_rate == 16000
    (codes,) = result.codes
    assert codes.shape[0] == 3 and codes.shape[1] > 0
    assert len(result.wav) == codes.shape[1] * 640  # one hop of samples per frame
    assert np.abs(result.wav).max() <= 0.99 + 1e-6
    assert set(result.timings) == {"front_end", "ar", "nar", "decoder"}
    assert result.real_time_factor > 0
    assert math.isnan(dataclasses.replace(result, wav=result.wav[:0]).real_time_factor)  # nothing spoken: no factor
    with pytest.raises(ValueError, match="only the durations model speaks at a pace"):
        synth.synthesize("Hello there.", options=synth.options(pace=1.5))


def test_random_model_hits_the_length_limit_cleanly(synth):
    # an untrained AR rarely samples end-of-speech: it must stop at phones x max_frames_per_phone
    result = synth.synthesize("Go now.", options=synth.options(temperature=0.0))
    from tts.text import text_to_phones

    n_phones = len(text_to_phones("Go now.")[1])
    assert result.codes[0].shape[1] <= int(np.ceil(n_phones * 2.0))
    if result.codes[0].shape[1] == int(np.ceil(n_phones * 2.0)):
        assert result.hit_max_length


def test_long_text_is_split_and_joined_with_pauses(synth):
    options = synth.options(seed=0, sentence_pause=0.5)
    result = synth.synthesize("First sentence here. Second one follows!", options=options)
    assert result.sentences == ["First sentence here.", "Second one follows!"]
    frames = sum(c.shape[1] for c in result.codes)
    assert len(result.wav) == frames * 640 + 8000


def test_same_seed_same_audio_and_cache_changes_nothing(synth):
    a = synth.synthesize("A test of seeds.", options=synth.options(seed=5))
    b = synth.synthesize("A test of seeds.", options=synth.options(seed=5))
    c = synth.synthesize("A test of seeds.", options=synth.options(seed=5, kv_cache=False))
    np.testing.assert_array_equal(a.codes[0], b.codes[0])
    np.testing.assert_array_equal(a.codes[0], c.codes[0])


def test_batched_and_one_by_one_agree_when_greedy(synth):
    texts = ["Short.", "A somewhat longer sentence to speak."]
    batched = synth.synthesize_many(texts, options=synth.options(temperature=0.0))
    single = synth.synthesize_many(texts, options=synth.options(temperature=0.0, batch=False))
    for x, y in zip(batched, single):
        np.testing.assert_array_equal(x.codes[0], y.codes[0])


def test_prompt_is_used(synth, tmp_path):
    from tts.audio.io import save_audio

    t = np.arange(16000) / 16000
    save_audio(tmp_path / "ref.wav", 0.3 * np.sin(2 * np.pi * 220 * t).astype(np.float32), 16000)
    prompt = synth.prompt_from_wav(tmp_path / "ref.wav", "a reference clip")
    assert prompt.phones[-1] == "."  # final punctuation added
    assert prompt.codes.shape == (3, 25)
    result = synth.synthesize("With a voice.", prompt=prompt, options=synth.options(seed=0))
    assert result.codes[0].shape[0] == 3
    with pytest.raises(ValueError, match="prompt-text"):
        synth.prompt_from_wav(tmp_path / "ref.wav", "  ")


def test_text_keep_punctuation_applies_to_synthesis(tmp_path):
    import dataclasses

    from tts.audio.io import save_audio
    from tts.text.symbols import PUNCTUATION

    synth = tiny_synthesizer()
    t = np.arange(16000) / 16000
    save_audio(tmp_path / "ref.wav", 0.3 * np.sin(2 * np.pi * 220 * t).astype(np.float32), 16000)
    kept = synth.prompt_from_wav(tmp_path / "ref.wav", "Well, a clip.")
    assert {",", "."} <= set(kept.phones)
    recipe = synth.recipe
    synth.recipe = dataclasses.replace(recipe, text=dataclasses.replace(recipe.text, keep_punctuation=False))
    dropped = synth.prompt_from_wav(tmp_path / "ref.wav", "Well, a clip.")
    assert not set(dropped.phones) & set(PUNCTUATION)
    assert [p for p in kept.phones if p not in PUNCTUATION] == dropped.phones


@pytest.mark.parametrize("text", ["", "   ", "!!! ...", "\U0001F600\U0001F389"])
def test_unspeakable_text_is_a_clear_error(synth, text):
    with pytest.raises(UnspeakableTextError):
        synth.synthesize(text)


def test_one_word_works(synth):
    assert synth.synthesize("Yes", options=synth.options(seed=2)).codes[0].shape[0] == 3


def test_the_nar_levels_are_decoded_as_their_expected_latents(synth, monkeypatch):
    books = torch.randn(3, 32, 16)  # untrained codebooks are all zero: give them distinct entries
    monkeypatch.setattr(synth.codec, "codebooks", lambda: books)
    decoded = []
    real_decode_latents = synth.codec.decode_latents
    monkeypatch.setattr(synth.codec, "decode_latents", lambda z: decoded.append(z) or real_decode_latents(z))
    result = synth.synthesize("Hello there.", options=synth.options(seed=1))
    assert len(decoded) == 1  # the latents are decoded, not the codes
    codes = torch.from_numpy(result.codes[0])
    hard = sum(books[q][codes[q]] for q in range(3)).T  # (D, T): the likeliest entries
    assert decoded[0].shape == (1, 16, codes.shape[1])
    assert not torch.allclose(decoded[0][0], hard, atol=1e-3)  # an unsure NAR blends the entries
    torch.testing.assert_close(decoded[0][0] - books[0][codes[0]].T,
                               sum(_level_means(synth, "Hello there.", codes, books)))


def test_expected_entries_weigh_the_codebook_by_the_prediction():
    from tts.models.layers import expected_entries

    book = torch.randn(4, 3)
    logits = torch.full((3, 5), -1e4)  # 4 entries + an EOS column
    logits[0, 2] = 0.0  # frame 0: sure of entry 2
    logits[1, :4] = 0.0  # frame 1: unsure among all four
    logits[2, 1] = 0.0
    logits[2, 4] = 50.0  # frame 2: EOS likeliest, entry 1 the likeliest code: EOS is left out
    mean = expected_entries(logits, book)
    assert mean.shape == (3, 3)
    torch.testing.assert_close(mean[0], book[2])
    torch.testing.assert_close(mean[1], book.mean(dim=0))
    torch.testing.assert_close(mean[2], book[1])
    with pytest.raises(ValueError, match="codebook of 4 entries"):
        expected_entries(logits[:, :3], book)


def _level_means(synth, text, codes, books):
    """Each NAR level's expected entry (D, T), computed from its logits outside the pipeline."""
    from tts.text import text_to_phones
    from tts.text.symbols import encode

    phones = torch.tensor([encode(text_to_phones(text)[1])])
    T = codes.shape[1]
    with torch.no_grad():
        for k in range(1, 3):
            logits = synth.chain.nar(phones, torch.tensor([phones.shape[1]]), codes[None], torch.tensor([T]),
                                     torch.tensor([0]), torch.tensor([k]))[0]  # (T, V)
            yield (logits.softmax(-1) @ books[k]).T


def test_the_codec_must_be_the_one_the_models_learned(tmp_path):
    from tts.data.store import file_digest
    from tts.loading import check_codec as _check_codec

    class FakeCodec:
        def settings(self):
            return {"kind": "trained", "n_codebooks": 3}

    weights = tmp_path / "best.pt"
    weights.write_bytes(b"the codec the models learned")
    trained_on = {"kind": "trained", "n_codebooks": 3, "checkpoint_digest": file_digest(weights)}
    _check_codec(FakeCodec(), trained_on, weights, tmp_path)
    _check_codec(FakeCodec(), {"kind": "trained", "n_codebooks": 3}, weights, tmp_path)  # older runs: no digest
    _check_codec(FakeCodec(), None, weights, tmp_path)
    with pytest.raises(ValueError, match="differs from the one the models were trained on"):
        _check_codec(FakeCodec(), {**trained_on, "n_codebooks": 4}, weights, tmp_path)
    weights.write_bytes(b"a codec trained on since")
    with pytest.raises(ValueError, match="is not the one whose codes the models were trained on"):
        _check_codec(FakeCodec(), trained_on, weights, tmp_path)


def test_options_are_the_recipes_with_changes():
    recipe = recipe_from_dict({"synthesis": {"top_k": 7, "temperature": 0.8}})
    synth = Synthesizer(ARChain(recipe, None, None, types.SimpleNamespace(sample_rate=16000)))
    options = synth.options(temperature=None, seed=9, kv_cache=False)
    assert isinstance(options, SynthesisConfig)
    assert options.top_k == 7 and options.temperature == 0.8 and options.seed == 9 and not options.kv_cache
    assert synth.options() == recipe.synthesis


def test_int8_quantisation_keeps_generation_working(synth):
    from tts.loading import quantize_int8

    ar = quantize_int8(ARModel(N_SYMBOLS, 32, SHAPE).eval())
    nar = quantize_int8(NARModel(N_SYMBOLS, 32, 3, SHAPE).eval())
    quantized = Synthesizer(ARChain(synth.recipe, ar, nar, synth.codec))
    assert isinstance(ar.transformer.blocks[0].mlp[0], torch.ao.nn.quantized.dynamic.Linear)
    assert len(quantized.synthesize("Fast words.").wav) > 0


def test_missing_run_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Synthesizer.from_run(tmp_path / "nope")
    (tmp_path / "run").mkdir()
    with pytest.raises(FileNotFoundError, match="train it first"):
        Synthesizer.from_run(tmp_path / "run")
    (tmp_path / "run" / "ar").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no best.pt or last.pt; train the stage first"):
        Synthesizer.from_run(tmp_path / "run")
    from tts.loading import stage_checkpoint

    with pytest.raises(FileNotFoundError, match=r"has no trained nar .*--stage nar"):
        stage_checkpoint(tmp_path / "run", "nar")  # what the AR chain says without its NAR


def test_the_chain_is_chosen_by_what_the_run_holds(tmp_path, monkeypatch):
    import tts.loading

    loaded = []
    monkeypatch.setattr(tts.text, "load_phonemizer", lambda: None)
    for name in ("load_ar_chain", "load_durations_chain"):
        monkeypatch.setattr(tts.loading, name, lambda run, device, vocoder, name=name: loaded.append(name) or (
            types.SimpleNamespace(recipe=None, codec=types.SimpleNamespace(sample_rate=16000), models=[]), {}))
    (tmp_path / "durations").mkdir()
    Synthesizer.from_run(tmp_path)
    (tmp_path / "ar").mkdir()
    Synthesizer.from_run(tmp_path)
    assert loaded == ["load_durations_chain", "load_ar_chain"]  # ar/ takes the AR chain, whatever else is there


def test_prompt_dataclass_holds_codes():
    prompt = Prompt(["HH", "AY1", "."], torch.zeros(3, 4, dtype=torch.long), "x")
    assert prompt.codes.shape == (3, 4)
    assert json.dumps(prompt.phones)


def test_length_bounds_per_phone_are_checked_and_obeyed(synth):
    with pytest.raises(ValueError, match="min_frames_per_phone = 3"):
        synth.options(min_frames_per_phone=3.0, max_frames_per_phone=2.0)
    with pytest.raises(ValueError, match="max_frames_per_phone = 0"):
        synth.options(max_frames_per_phone=0.0)
    from tts.text import text_to_phones

    n_phones = len(text_to_phones("Go now.")[1])
    result = synth.synthesize("Go now.", options=synth.options(min_frames_per_phone=1.0, max_frames_per_phone=1.5))
    assert n_phones <= result.codes[0].shape[1] <= int(np.ceil(n_phones * 1.5))


def test_the_durations_chain_speaks_through_the_mel_vocoder_at_a_pace():
    synth = tiny_durations_synthesizer(RecordingMelVocoder())
    prompt = Prompt(phones=["AA1", "."], codes=torch.tensor([[5, 6, 8], [1, 2, 3], [4, 4, 4]]), source="test")
    result = synth.synthesize("Hello there. Bye.", prompt, synth.options(seed=1))
    assert len(result.codes) == 2 and all(c.shape[0] == 0 and c.shape[1] > 0 for c in result.codes)
    frames = sum(c.shape[1] for c in result.codes)
    pause = int(synth.options().sentence_pause * synth.sample_rate)
    assert len(result.wav) == frames * 4 * 160 + pause  # four mel frames per frame, one pause
    assert set(result.timings) == {"front_end", "durations", "vocoder"}
    heard = synth.chain.vocoder.heard[-1]
    from tts.text import text_to_phones
    from tts.text.symbols import encode

    mels, _ = synth.chain.model.speak([torch.tensor(encode(text_to_phones("Bye.")[1]))], [prompt.codes],
                                      [torch.tensor(encode(prompt.phones))])
    torch.testing.assert_close(heard[0], mels[0], atol=1e-5, rtol=1e-5)  # the model's log-mels, as they are
    with torch.no_grad():  # about two frames a phone, so that a slower pace shows
        synth.chain.model.duration_head.bias.fill_(float(torch.log1p(torch.tensor(2.0))))
        synth.chain.model.duration_head.weight.mul_(0.01)
    normal, slow = (synth.synthesize("Hello there. Bye.", prompt, synth.options(seed=1, pace=pace))
                    for pace in (1.0, 1.5))
    assert len(slow.wav) > len(normal.wav)
    one_by_one = synth.synthesize("Hello there. Bye.", prompt, synth.options(seed=1, batch=False))
    np.testing.assert_allclose(one_by_one.wav, normal.wav, atol=1e-5)
    with pytest.raises(ValueError, match="pace = 0"):
        synth.options(pace=0.0)


def test_an_exported_speaker_speaks_from_its_clip(tmp_path):
    """A folder's voices (voices.json): --speaker picks one, its clip encoded as it is; an unknown id lists them."""
    import soundfile

    from tts.synthesize import Voice

    synth = tiny_synthesizer()
    rng = np.random.default_rng(0)
    voices = []
    for speaker, seconds in (("b", 1.0), ("a", 0.5)):
        pcm = (0.1 * rng.standard_normal(int(seconds * 16000)) * 32768).astype(np.int16)
        soundfile.write(tmp_path / f"{speaker}.wav", pcm, 16000, subtype="PCM_16")
        voices.append(Voice(speaker, f"engine:{speaker}", tmp_path / f"{speaker}.wav", "Some words.",
                            ["S", "AH1", "M", "_", "W", "ER1", "D", "Z", "."], f"{speaker}_1", seconds))
    synth = Synthesizer(synth.chain, None, {}, voices)
    prompt = synth.prompt_from_speaker("b")
    wav = torch.from_numpy(soundfile.read(tmp_path / "b.wav", dtype="float32")[0]).view(1, 1, -1)
    assert torch.equal(prompt.codes, synth.codec.encode(wav)[0]) and prompt.codes.shape == (3, 25)
    assert prompt.phones == voices[0].phones and prompt.source == "speaker b (engine:b): b_1"
    assert synth.prompt_from_speaker(None).codes.shape == (3, 13)  # the first id, "a": half a second
    with pytest.raises(ValueError, match=r"speaker 'c' is not one of this model's training speakers: a, b"):
        synth.prompt_from_speaker("c")
    assert len(synth.synthesize("Hi.", prompt, synth.options(seed=0)).wav) > 0


def test_a_runs_speaker_prompt_is_the_recording_nearest_three_seconds():
    from tts.synthesize import reference_record

    records = [{"id": "x1", "speaker": "x", "duration": 1.0}, {"id": "x2", "speaker": "x", "duration": 3.5},
               {"id": "x3", "speaker": "x", "duration": 2.75}, {"id": "x4", "speaker": "x", "duration": 3.25},
               {"id": "y1", "speaker": "y", "duration": 9.0}]
    assert reference_record(records, "x")["id"] == "x3"  # 2.75 and 3.25 s are as near: the first id
    assert reference_record(records, "y")["id"] == "y1"  # a speaker's only recording, however long


def test_speaker_names_come_from_a_generated_corpus_table(tmp_path):
    from tts.loading import speaker_names

    (tmp_path / "speakers.tsv").write_text("speaker\tengine\tvoice\tsettings\tsex\n101\tflite\tslt\t-\tF\n"
                                           "104\tespeak-ng\ten-us\tpitch=70,speed=150\tF\n")
    assert speaker_names(tmp_path) == {"101": "flite:slt", "104": "espeak-ng:en-us[pitch=70,speed=150]"}
    (tmp_path / "speakers.tsv").write_text("READER\tGENDER\tSUBSET\tNAME\n19\tF\ttrain-clean-100\tKara\n")
    assert speaker_names(tmp_path) == {}  # LibriTTS's own table: the ids name the speakers
    assert speaker_names(tmp_path / "none") == {} and speaker_names(None) == {}
