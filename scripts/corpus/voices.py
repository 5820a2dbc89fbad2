"""The speakers of the corpus: engine voices with fixed speaker ids, and which of them can speak here.

Every voice comes from a Debian package; missing ones can be installed with --install (as root).
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Voice:
    """A speaker of the corpus: an engine voice, perhaps with settings that make it sound like another."""

    speaker: str  # LibriTTS-style numeric speaker id, fixed per voice
    engine: str  # flite | festival | espeak-ng
    name: str  # the engine's voice name
    settings: tuple[tuple[str, str], ...] = ()  # engine options (flite --setf, festival Parameter, espeak flags)
    sex: str = ""  # F | M
    evaluation: bool = False  # a recogniser understands it: may speak held-out references
    package: str = ""  # Debian package that provides it
    phones_per_second: float = 12.0  # speaking rate, for planning the corpus size

    @property
    def label(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.settings)
        return f"{self.engine}:{self.name}" + (f"[{extra}]" if extra else "")


VOICES = (
    Voice("101", "flite", "slt", sex="F", evaluation=True, package="flite", phones_per_second=11.4),
    Voice("102", "flite", "rms", sex="M", evaluation=True, package="flite", phones_per_second=10.5),
    Voice("103", "flite", "awb", sex="M", evaluation=True, package="flite", phones_per_second=11.9),
    Voice("104", "flite", "kal16", sex="M", evaluation=True, package="flite", phones_per_second=11.8),
    Voice("105", "flite", "slt", (("int_f0_target_mean", "230"), ("duration_stretch", "0.92")), sex="F",
          package="flite", phones_per_second=12.5),
    Voice("106", "flite", "awb", (("int_f0_target_mean", "95"), ("duration_stretch", "1.1")), sex="M",
          package="flite", phones_per_second=10.4),
    Voice("201", "festival", "kal_diphone", sex="M", evaluation=True, package="festvox-kallpc16k",
          phones_per_second=9.6),
    Voice("202", "festival", "ked_diphone", sex="M", evaluation=True, package="festvox-kdlpc16k",
          phones_per_second=9.9),
    Voice("203", "festival", "cmu_us_slt_arctic_hts", sex="F", evaluation=True, package="festvox-us-slt-hts",
          phones_per_second=11.9),
    Voice("301", "espeak-ng", "en-us+f3", sex="F", package="espeak-ng", phones_per_second=12.6),
    Voice("302", "espeak-ng", "en+m3", (("-p", "40"), ("-s", "165")), sex="M", package="espeak-ng",
          phones_per_second=12.2),
)
BUNDLE_SPEAKERS = ("101", "102", "103")  # flite only: the demo corpus is remade with one small package
ENGINE_PACKAGES = {"flite": "flite", "festival": "festival", "espeak-ng": "espeak-ng"}


def run_quiet(command: list[str], stdin: str | None = None, timeout: float = 60) -> str:
    """A command's stdout and stderr together; "" when it cannot be run or times out."""
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout + done.stderr


def installed_voices(engine: str) -> set[str]:
    """Voice names an engine reports (empty when the engine is missing)."""
    if shutil.which(engine) is None:
        return set()
    if engine == "flite":
        return set(run_quiet(["flite", "-lv"]).split(":")[-1].split())
    if engine == "festival":
        return set(re.findall(r"[\w-]+", run_quiet(["festival", "--pipe"], "(print (voice.list))\n")))
    listing = run_quiet(["espeak-ng", "--voices=en"]).splitlines()[1:]
    return {field for line in listing for field in line.split()[1:2]} | {"en"}


def available(voices: tuple[Voice, ...]) -> tuple[list[Voice], list[Voice]]:
    """(voices that can speak here, voices whose engine or voice data is missing)."""
    found = {engine: installed_voices(engine) for engine in {v.engine for v in voices}}
    ready = [v for v in voices if v.name.split("+")[0] in found[v.engine]]
    return ready, [v for v in voices if v not in ready]


def debian_packages(voices: list[Voice]) -> list[str]:
    """The Debian packages that the voices and their engines come from, sorted."""
    return sorted({v.package for v in voices} | {ENGINE_PACKAGES[v.engine] for v in voices})


def install_packages(missing: list[Voice]) -> None:
    """apt-get install the Debian packages of missing voices (needs root)."""
    packages = debian_packages(missing)
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError("--install needs root on a Debian/Ubuntu machine; run: " + shlex.join(command))
    logger.info("installing %s", " ".join(packages))
    subprocess.run(command, check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def engine_versions(voices: list[Voice]) -> dict[str, str]:
    """Debian package versions of the engines and voices used (audio is reproducible given these)."""
    versions = {}
    for package in debian_packages(voices):
        found = run_quiet(["dpkg-query", "-W", "-f=${Version}", package]).strip()
        versions[package] = found if found and "no packages" not in found else "unknown"
    return versions


def select_voices(speakers: str | None, install: bool) -> tuple[list[Voice], list[Voice]]:
    """(voices to use, wanted voices that are missing here) for comma-separated speaker ids (None: all),
    installing missing ones first when `install` is set."""
    wanted = VOICES
    if speakers:
        ids = speakers.split(",")
        unknown = sorted(set(ids) - {v.speaker for v in VOICES})
        if unknown:
            raise ValueError(f"unknown speakers {unknown}; known: {', '.join(v.speaker for v in VOICES)}")
        wanted = tuple(v for v in VOICES if v.speaker in ids)
    ready, missing = available(wanted)
    if missing and install:
        install_packages(missing)
        ready, missing = available(wanted)
    for voice in missing:
        logger.warning("missing: %s (Debian package %s); continuing without speaker %s",
                       voice.label, voice.package, voice.speaker)
    return ready, missing
