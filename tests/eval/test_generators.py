"""The eval helpers that hear one model with the truth given, on tiny random-weight models."""

import numpy as np
import torch
from synthesis_fixtures import RecordingMelVocoder

from tts.codec import Codec, trained_settings
from tts.config import recipe_from_dict
from tts.eval.generators import hear_ar_forced, speak_durations, speak_first_level
from tts.models.ar import ARModel
from tts.models.codec_model import CodecModel
from tts.models.durations import DurationsModel
from tts.models.layers import TransformerShape, expected_entries
from tts.models.nar import NARModel
from tts.synthesize import ARChain, DurationsChain, Prompt
from tts.text.symbols import N_SYMBOLS, encode

RECIPE = {"codec": {"strides": [8, 5, 4, 4], "channels": 4, "dimension": 16, "lstm_layers": 0,
                    "n_codebooks": 3, "codebook_size": 32}}
SHAPE = TransformerShape(width=32, layers=1, heads=2, dropout=0.0, max_positions=512)
PHONES = ["HH", "AH0", "L", "OW1", "."]


class RecordingCodec:
    """The tiny codec's entries (distinct, random), keeping the latents it is asked to decode."""

    def __init__(self, codec: Codec):
        self.codec, self.books, self.decoded = codec, torch.randn(3, 32, 16), []
        self.n_codebooks, self.sample_rate, self.device = 3, codec.sample_rate, codec.device

    def codebooks(self):
        return self.books

    def decode_latents(self, latents):
        self.decoded.append(latents)
        return torch.zeros(1, 1, 640 * latents.shape[-1])


def ar_chain() -> ARChain:
    torch.manual_seed(0)
    recipe = recipe_from_dict(RECIPE)
    settings = trained_settings(recipe)
    codec = RecordingCodec(Codec(CodecModel.from_settings(settings), settings))
    return ARChain(recipe, ARModel(N_SYMBOLS, 32, SHAPE).eval(), NARModel(N_SYMBOLS, 32, 3, SHAPE).eval(), codec)


def test_speak_first_level_fills_the_levels_from_the_given_codebook_1_and_decodes_their_expectation():
    chain = ar_chain()
    first = torch.tensor([3, 7, 7, 1])
    prompt = Prompt(phones=["AA1", "."], codes=torch.tensor([[5, 6, 8], [1, 2, 3], [4, 4, 4]]), source="test")
    wav = speak_first_level(chain, PHONES, first, prompt)
    assert wav.shape == (4 * 640,)
    _, latents = chain.nar.generate([torch.tensor(encode(PHONES))], [first], [prompt.codes],
                                    [torch.tensor(encode(prompt.phones))], codebooks=chain.codec.books)
    torch.testing.assert_close(chain.codec.decoded[-1][0], latents[0])  # the NAR's expected latents (E, T)
    speak_first_level(chain, PHONES, first)
    assert not torch.allclose(chain.codec.decoded[-1], chain.codec.decoded[-2])  # the prompt is heard


def test_hear_ar_forced_is_causal_and_decodes_the_mean_entry_of_codebook_1():
    chain = ar_chain()
    first, durations = torch.tensor([3, 7, 7, 1, 30, 2]), torch.tensor([1, 2, 1, 1, 1])
    wav = hear_ar_forced(chain, PHONES, first, durations)
    assert wav.shape == (6 * 640,)
    text = torch.tensor([encode(PHONES)])
    audio = torch.cat([torch.tensor([chain.ar.bos]), first[:-1]]).unsqueeze(0)
    with torch.no_grad():
        logits, _ = chain.ar(text, torch.tensor([5]), audio, torch.tensor([6]), torch.tensor([[0, 1, 1, 2, 3, 4]]))
    decoded = chain.codec.decoded
    torch.testing.assert_close(decoded[0][0], expected_entries(logits[0], chain.codec.books[0]).T)
    changed = first.clone()
    changed[4:] = torch.tensor([9, 9])
    hear_ar_forced(chain, PHONES, changed, durations)
    torch.testing.assert_close(decoded[1][0, :, :5], decoded[0][0, :, :5])  # frame t sees frames < t only
    assert not torch.allclose(decoded[1][0, :, 5], decoded[0][0, :, 5])
    prompt = Prompt(phones=["AA1", "."], codes=torch.tensor([[5, 6, 8], [0, 0, 0], [1, 1, 1]]), source="test")
    hear_ar_forced(chain, PHONES, first, durations, prompt)
    assert decoded[2].shape == (1, 16, 6)  # the target frames only, prompt excluded
    assert not torch.allclose(decoded[2], decoded[0])  # the prompt is heard


def test_speak_durations_speaks_the_given_frames_through_the_vocoder():
    torch.manual_seed(0)
    recipe = recipe_from_dict(RECIPE)
    model = DurationsModel(N_SYMBOLS, 32, 3, SHAPE, mel_bins=80, mel_per_frame=4).eval()
    chain = DurationsChain(recipe, model, None, RecordingMelVocoder())
    durations = torch.tensor([2, 1, 3, 2, 0])
    wav = speak_durations(chain, PHONES, durations)
    assert wav.shape == (8 * 4 * 160,) and np.allclose(wav, 0.1)
    mels, _ = model.speak([torch.tensor(encode(PHONES))], durations=[durations])
    torch.testing.assert_close(chain.vocoder.heard[-1][0], mels[0])  # (80, 8 x 4)
    prompt = Prompt(phones=["AA1", "."], codes=torch.tensor([[5, 6, 8], [1, 2, 3], [4, 4, 4]]), source="test")
    speak_durations(chain, PHONES, durations, prompt)
    assert chain.vocoder.heard[-1].shape == (1, 80, 32) and not torch.allclose(chain.vocoder.heard[-1], mels[0])
