"""The synthesis pipeline on tiny random-weight models: shapes, options, prompts, errors, the CLI."""

import json

import numpy as np
import pytest
import torch

from tts.codec import Codec, trained_settings
from tts.config import recipe_from_dict
from tts.models.ar import ARModel
from tts.models.codec_model import CodecModel
from tts.models.layers import TransformerShape
from tts.models.nar import NARModel
from tts.synthesize import Prompt, SamplingOptions, Synthesizer
from tts.text import UnspeakableTextError
from tts.text.symbols import N_SYMBOLS

RECIPE = {"codec": {"strides": [8, 5, 4, 4], "channels": 4, "dimension": 16, "lstm_layers": 0,
                    "n_codebooks": 3, "codebook_size": 32},
          "synthesis": {"max_frames_per_phone": 2.0}}


def tiny_synthesizer(mel_head: bool = False, vocoder=None, mel_nar: bool = False,
                     durations: bool = False) -> Synthesizer:
    """Random tiny models: an AR (with a mel head, and then no NAR) and the NAR (in its mel mode with
    `mel_nar`, reading durations with `durations`), over a tiny codec."""
    torch.manual_seed(0)
    recipe = recipe_from_dict(RECIPE)
    settings = trained_settings(recipe)
    codec = Codec(CodecModel.from_settings(settings), settings)
    shape = TransformerShape(width=32, layers=1, heads=2, dropout=0.0, max_positions=512)
    mel = {"mel_bins": 80, "mel_per_frame": 4} if mel_head else {}
    ar = ARModel(N_SYMBOLS, 32, shape, **mel).eval()
    nar = None if mel_head else NARModel(N_SYMBOLS, 32, 3, shape, **({"mel_bins": 80, "mel_per_frame": 4}
                                                                     if mel_nar else {}),
                                                     **({"condition": "durations"} if durations else {})).eval()
    return Synthesizer(recipe, ar, nar, codec, vocoder=vocoder)


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
    with pytest.raises(ValueError, match="only a NAR that reads durations"):
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


@pytest.mark.parametrize("text", ["", "   ", "!!! ...", "\U0001F600\U0001F389"])
def test_unspeakable_text_is_a_clear_error(synth, text):
    with pytest.raises(UnspeakableTextError):
        synth.synthesize(text)


def test_one_word_works(synth):
    assert synth.synthesize("Yes", options=synth.options(seed=2)).codes[0].shape[0] == 3


def test_nar_decode_expected_decodes_the_mean_entries(synth, monkeypatch):
    books = torch.randn(3, 32, 16)  # untrained codebooks are all zero: give them distinct entries
    monkeypatch.setattr(synth.codec, "codebooks", lambda: books)
    decoded = []
    real_decode_latents = synth.codec.decode_latents
    monkeypatch.setattr(synth.codec, "decode_latents", lambda z: decoded.append(z) or real_decode_latents(z))
    expected = synth.synthesize("Hello there.", options=synth.options(seed=1, nar_decode="expected"))
    argmax = synth.synthesize("Hello there.", options=synth.options(seed=1, nar_decode="argmax"))
    np.testing.assert_array_equal(expected.codes[0], argmax.codes[0])  # the same codes either way
    assert len(decoded) == 1  # argmax decodes the codes; expected decodes the latents
    codes = torch.from_numpy(expected.codes[0])
    hard = sum(books[q][codes[q]] for q in range(3)).T  # (D, T): the likeliest entries
    assert decoded[0].shape == (1, 16, codes.shape[1])
    assert not torch.allclose(decoded[0][0], hard, atol=1e-3)  # an unsure NAR blends the entries
    torch.testing.assert_close(decoded[0][0] - books[0][codes[0]].T,
                               sum(_level_means(synth, "Hello there.", codes, books)))


def test_expected_entries_weigh_the_codebook_by_the_prediction():
    from tts.synthesize import expected_entries

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


def test_ar_decode_expected_hears_codebook_1_as_the_mean_entry(synth, monkeypatch):
    from tts.synthesize import expected_entries
    from tts.text import text_to_phones
    from tts.text.symbols import encode

    books = torch.randn(3, 32, 16)
    monkeypatch.setattr(synth.codec, "codebooks", lambda: books)
    decoded = []
    real_decode_latents = synth.codec.decode_latents
    monkeypatch.setattr(synth.codec, "decode_latents", lambda z: decoded.append(z) or real_decode_latents(z))
    options = synth.options(seed=1, nar_decode="argmax")
    sampled = synth.synthesize("Hello there.", options=options)
    assert not decoded  # sampled codes, argmax levels: the codes are decoded
    soft = synth.synthesize("Hello there.", options=synth.options(seed=1, nar_decode="argmax", ar_decode="expected"))
    np.testing.assert_array_equal(soft.codes[0], sampled.codes[0])  # the same draws feed back either way
    codes = torch.from_numpy(soft.codes[0])
    phones = torch.tensor(encode(text_to_phones("Hello there.")[1]))
    out = synth.ar.generate([phones], options=options.generation(), keep_logits=True)
    first = expected_entries(out.logits[0][:codes.shape[1]], books[0])  # (T, D)
    levels = sum(books[q][codes[q]] for q in (1, 2)).T  # (D, T)
    (latents,) = decoded
    torch.testing.assert_close(latents[0], levels + first.T)
    assert not torch.allclose(first, books[0][codes[0]], atol=1e-3)  # an unsure AR blends the entries
    decoded.clear()
    synth.synthesize("Hello there.", options=synth.options(seed=1, ar_decode="expected"))  # with NAR means
    nar_means = sum(_level_means(synth, "Hello there.", codes, books))
    torch.testing.assert_close(decoded[0][0], nar_means + first.T)
    with pytest.raises(ValueError, match="ar_decode 'mean'"):
        synth.synthesize("Hello there.", options=synth.options(ar_decode="mean"))


def test_hear_ar_forced_is_causal_and_decodes_the_mean_entry(synth, monkeypatch):
    from tts.synthesize import expected_entries
    from tts.text.symbols import encode

    books = torch.randn(3, 32, 16)
    monkeypatch.setattr(synth.codec, "codebooks", lambda: books)
    decoded = []
    monkeypatch.setattr(synth.codec, "decode_latents", lambda z: decoded.append(z) or torch.zeros(1, 1, 8))
    phones = ["HH", "AH0", "L", "OW1", "."]
    first = torch.tensor([3, 7, 7, 1, 30, 2])
    wav = synth.hear_ar_forced(phones, first)
    assert wav.shape == (8,)
    text = torch.tensor([encode(phones)])
    audio = torch.cat([torch.tensor([synth.ar.bos]), first[:-1]]).unsqueeze(0)
    logits, _ = synth.ar(text, torch.tensor([5]), audio, torch.tensor([6]))
    torch.testing.assert_close(decoded[0][0], expected_entries(logits[0], books[0]).T)
    changed = first.clone()
    changed[4:] = torch.tensor([9, 9])
    synth.hear_ar_forced(phones, changed)
    torch.testing.assert_close(decoded[1][0, :, :5], decoded[0][0, :, :5])  # frame t sees frames < t only
    assert not torch.allclose(decoded[1][0, :, 5], decoded[0][0, :, 5])
    prompt = Prompt(phones=["AA1", "."], codes=torch.tensor([[5, 6, 8], [0, 0, 0], [1, 1, 1]]), source="test")
    synth.hear_ar_forced(phones, first, prompt)
    assert decoded[2].shape == (1, 16, 6)  # the target frames only, prompt excluded
    assert not torch.allclose(decoded[2], decoded[0])  # the prompt is heard


def _level_means(synth, text, codes, books):
    """Each NAR level's expected entry (D, T), computed from its logits outside the pipeline."""
    from tts.text import text_to_phones
    from tts.text.symbols import encode

    phones = torch.tensor([encode(text_to_phones(text)[1])])
    T = codes.shape[1]
    with torch.no_grad():
        for k in range(1, 3):
            logits = synth.nar(phones, torch.tensor([phones.shape[1]]), codes[None], torch.tensor([T]),
                               torch.tensor([0]), torch.tensor([k]))[0]  # (T, V)
            yield (logits.softmax(-1) @ books[k]).T


def test_the_codec_must_be_the_one_the_models_learned(tmp_path):
    from tts.data.store import file_digest
    from tts.synthesize import _check_codec

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
    with pytest.raises(ValueError, match="is not the one whose codes the AR and NAR were trained on"):
        _check_codec(FakeCodec(), trained_on, weights, tmp_path)


def test_vocoder_decoder_needs_a_vocoder(synth):
    with pytest.raises(FileNotFoundError, match="no trained vocoder"):
        synth.synthesize("Hello.", options=synth.options(decoder="vocoder"))


def test_options_from_recipe_with_changes():
    recipe = recipe_from_dict({"synthesis": {"top_k": 7, "temperature": 0.8}})
    options = SamplingOptions.from_recipe(recipe.synthesis, temperature=None, seed=9)
    assert options.top_k == 7 and options.temperature == 0.8 and options.seed == 9
    generation = options.generation()
    assert generation.top_k == 7 and generation.use_cache


def test_int8_quantisation_keeps_generation_working(synth):
    from tts.synthesize import _quantize_int8

    shape = TransformerShape(width=32, layers=1, heads=2, dropout=0.0, max_positions=512)
    ar = _quantize_int8(ARModel(N_SYMBOLS, 32, shape).eval())
    nar = _quantize_int8(NARModel(N_SYMBOLS, 32, 3, shape).eval())
    quantized = Synthesizer(synth.recipe, ar, nar, synth.codec)
    assert len(quantized.synthesize("Fast words.").wav) > 0


def test_missing_run_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Synthesizer.from_run(tmp_path / "nope")
    (tmp_path / "run").mkdir()
    with pytest.raises(FileNotFoundError, match="train it first"):
        Synthesizer.from_run(tmp_path / "run")


def test_prompt_dataclass_holds_codes():
    prompt = Prompt(["HH", "AY1", "."], torch.zeros(3, 4, dtype=torch.long), "x")
    assert prompt.codes.shape == (3, 4)
    assert json.dumps(prompt.phones)


class RecordingMelVocoder:
    """Stands in for a mel vocoder: keeps what it is given, returns hop_length samples per frame."""

    input = "mel"

    def __init__(self):
        self.heard = []

    def __call__(self, mel):
        self.heard.append(mel)
        return torch.full((1, 1, mel.shape[-1] * 160), 0.1)


@pytest.fixture(scope="module")
def mel_synth():
    return tiny_synthesizer(mel_head=True, vocoder=RecordingMelVocoder())


def test_ar_decode_mel_hears_the_mel_head_through_the_mel_vocoder_without_a_nar(mel_synth):
    from tts.text import text_to_phones
    from tts.text.symbols import encode

    options = mel_synth.options(seed=1, ar_decode="mel", min_frames_per_phone=1.0)
    result = mel_synth.synthesize("Hello there.", options=options)
    (codes,) = result.codes
    assert codes.shape[0] == 1 and codes.shape[1] > 0  # codebook 1 only: no NAR ran
    assert set(result.timings) == {"front_end", "ar", "decoder"}
    assert len(result.wav) == codes.shape[1] * 640
    _, phones = text_to_phones("Hello there.")
    out = mel_synth.ar.generate([torch.tensor(encode(phones))], None, options.generation(), keep_mel=True)
    assert torch.equal(out.codes[0], torch.as_tensor(codes[0]))
    torch.testing.assert_close(mel_synth.vocoder.heard[-1][0], out.mels[0])


def test_ar_decode_mel_needs_a_mel_head_and_other_decodings_need_a_nar(synth, mel_synth):
    with pytest.raises(ValueError, match="no mel head"):
        synth.synthesize("Hello there.", options=synth.options(ar_decode="mel"))
    with pytest.raises(FileNotFoundError, match="no trained NAR"):
        mel_synth.synthesize("Hello there.", options=mel_synth.options(ar_decode="sample"))


def test_hear_ar_forced_with_mel_hears_the_teacher_forced_mel_head(mel_synth):
    from tts.text.symbols import encode

    phones = ["HH", "AH0", "L", "OW1", "."]
    first = torch.tensor([3, 7, 7, 1, 30, 2])
    prompt = Prompt(phones=["AA1", "."], codes=torch.tensor([[5, 6, 8]]), source="test")
    wav = mel_synth.hear_ar_forced(phones, first, prompt, mel_synth.options(ar_decode="mel"))
    assert wav.shape == (6 * 640,)
    text = torch.tensor([encode(prompt.phones + phones)])
    audio = torch.cat([torch.tensor([mel_synth.ar.bos]), prompt.codes[0], first]).unsqueeze(0)
    _, _, mel = mel_synth.ar(text, torch.tensor([7]), audio, torch.tensor([10]), mel=True)
    torch.testing.assert_close(mel_synth.vocoder.heard[-1][0], mel[0, 3:9].flatten(0, 1).T)


def test_a_mel_mode_nar_is_heard_through_the_mel_vocoder():
    from tts.text import text_to_phones
    from tts.text.symbols import encode

    synth = tiny_synthesizer(vocoder=RecordingMelVocoder(), mel_nar=True)
    prompt = Prompt(phones=["AA1", "."], codes=torch.tensor([[5, 6, 8], [1, 2, 3], [4, 4, 4]]), source="test")
    options = synth.options(seed=1, min_frames_per_phone=1.0)
    result = synth.synthesize("Hello there.", prompt, options)
    (codes,) = result.codes
    assert codes.shape[0] == 1 and codes.shape[1] > 0  # codebook 1; the NAR made mel frames, not codes
    assert set(result.timings) == {"front_end", "ar", "nar", "decoder"}
    assert len(result.wav) == codes.shape[1] * 640
    _, phones = text_to_phones("Hello there.")
    mel = synth.nar.generate([torch.tensor(encode(phones))], [torch.as_tensor(codes[0])], [prompt.codes],
                             [torch.tensor(encode(prompt.phones))])[0]
    torch.testing.assert_close(synth.vocoder.heard[-1][0], mel)  # (80, T x 4)
    first = torch.tensor([3, 7, 7, 1])
    wav = synth.speak_first_level(phones, first, prompt, options)  # --what nar: from a given codebook 1
    assert wav.shape == (4 * 640,) and synth.vocoder.heard[-1].shape == (1, 80, 16)
    with pytest.raises(ValueError, match="no entries to average"):
        synth.synthesize("Hello there.", options=synth.options(ar_decode="expected"))


def test_length_bounds_per_phone_are_checked_and_obeyed(synth):
    with pytest.raises(ValueError, match="min_frames_per_phone = 3"):
        synth.options(min_frames_per_phone=3.0, max_frames_per_phone=2.0)
    with pytest.raises(ValueError, match="max_frames_per_phone = 0"):
        synth.options(max_frames_per_phone=0.0)
    from tts.text import text_to_phones

    n_phones = len(text_to_phones("Go now.")[1])
    result = synth.synthesize("Go now.", options=synth.options(min_frames_per_phone=1.0, max_frames_per_phone=1.5))
    assert n_phones <= result.codes[0].shape[1] <= int(np.ceil(n_phones * 1.5))


def test_a_nar_that_reads_durations_speaks_without_the_ar(monkeypatch):
    synth = tiny_synthesizer(vocoder=RecordingMelVocoder(), mel_nar=True, durations=True)

    def no_ar(*args, **kwargs):
        raise AssertionError("the AR ran")

    monkeypatch.setattr(synth.ar, "generate", no_ar)
    prompt = Prompt(phones=["AA1", "."], codes=torch.tensor([[5, 6, 8], [1, 2, 3], [4, 4, 4]]), source="test")
    result = synth.synthesize("Hello there. Bye.", prompt, synth.options(seed=1))
    assert len(result.codes) == 2 and all(c.shape[0] == 0 and c.shape[1] > 0 for c in result.codes)
    frames = sum(c.shape[1] for c in result.codes)
    pause = int(synth.options().sentence_pause * synth.sample_rate)
    assert len(result.wav) == frames * 4 * 160 + pause  # four mel frames per frame, one pause
    assert result.timings["ar"] == 0.0 and result.timings["nar"] > 0
    with torch.no_grad():  # about two frames a phone, so that a slower pace shows
        synth.nar.duration_head.bias.fill_(float(torch.log1p(torch.tensor(2.0))))
        synth.nar.duration_head.weight.mul_(0.01)
    normal, slow = (synth.synthesize("Hello there. Bye.", prompt, synth.options(seed=1, pace=pace)) for pace in (1.0, 1.5))
    assert len(slow.wav) > len(normal.wav)
    with pytest.raises(ValueError, match="pace = 0"):
        synth.options(pace=0.0)
    with pytest.raises(ValueError, match="reads durations it predicts itself"):
        synth.synthesize("Hello.", options=synth.options(ar_decode="expected"))
    with pytest.raises(ValueError, match="give it durations"):
        synth.speak_first_level(["HH", "AH0"], torch.tensor([1, 2, 3]))


def test_speak_durations_speaks_the_given_frames():
    synth = tiny_synthesizer(vocoder=RecordingMelVocoder(), mel_nar=True, durations=True)
    wav = synth.speak_durations(["HH", "AH0", "L", "OW1", "."], torch.tensor([2, 1, 3, 2, 0]))
    assert wav.shape == (8 * 4 * 160,) and synth.vocoder.heard[-1].shape == (1, 80, 32)
    plain = synth.vocoder.heard[-1]
    synth.speak_durations(["HH", "AH0", "L", "OW1", "."], torch.tensor([2, 1, 3, 2, 0]),
                          options=synth.options(mel_contrast=2.0))
    torch.testing.assert_close(synth.vocoder.heard[-1].std(dim=-1), 2 * plain.std(dim=-1))  # the vocoder hears it
    with pytest.raises(ValueError, match="does not read durations"):
        tiny_synthesizer(vocoder=RecordingMelVocoder(), mel_nar=True).speak_durations(["AA1"], torch.tensor([1]))
