"""scripts/corpus/voices.py and engines.py: speaker ids, voice selection and the engines' command lines."""

import pytest

from corpus import engines, voices


def test_speaker_ids_are_unique_and_the_bundle_is_flite_only():
    assert len({v.speaker for v in voices.VOICES}) == len(voices.VOICES)
    bundle = [v for v in voices.VOICES if v.speaker in voices.BUNDLE_SPEAKERS]
    assert len(bundle) == len(voices.BUNDLE_SPEAKERS) and {v.engine for v in bundle} == {"flite"}
    assert voices.VOICES[4].label == "flite:slt[int_f0_target_mean=230,duration_stretch=0.92]"


def test_select_voices_refuses_unknown_speakers_and_keeps_the_order_of_voices(monkeypatch):
    with pytest.raises(ValueError, match="999"):
        voices.select_voices("101,999", install=False)
    monkeypatch.setattr(voices, "installed_voices", lambda engine: {"slt", "rms"} if engine == "flite" else set())
    ready, missing = voices.select_voices("301,102,101", install=False)
    assert [v.speaker for v in ready] == ["101", "102"] and [v.speaker for v in missing] == ["301"]


def test_engine_command_lines(tmp_path, monkeypatch):
    commands = []
    monkeypatch.setattr(engines, "run_engine", lambda command, timeout: commands.append(command) or "")
    paths = [tmp_path / "a.wav", tmp_path / "b.wav"]
    assert engines.synthesize_flite(voices.VOICES[4], ["One.", "Two."], paths) == ""
    assert commands[0] == ["flite", "-voice", "slt", "--setf", "int_f0_target_mean=230", "--setf",
                           "duration_stretch=0.92", "-t", "One.", "-o", str(paths[0])]
    engines.synthesize_espeak(voices.VOICES[-1], ["One."], paths[:1])
    assert commands[-1] == ["espeak-ng", "-v", "en+m3", "-p", "40", "-s", "165", "-w", str(paths[0]), "One."]
    engines.synthesize_festival(voices.VOICES[6], ['Say "hi".', "Two."], paths)
    script = (tmp_path / "job.scm").read_text()
    assert commands[-1] == ["festival", "-b", str(tmp_path / "job.scm")] and len(commands) == 4  # one start a job
    assert script.startswith("(voice_kal_diphone)\n") and r'"Say \"hi\"."' in script
