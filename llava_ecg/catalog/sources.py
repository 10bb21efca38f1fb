"""Record sources: the one list of dataset names, their aliases, and what each stage calls them.

``name`` is what ``--source`` and ``ECG.meta["source"]`` say; ``reader`` is the ``llava_ecg.signals`` reader that
reads the files (``None``: detect it from the path); ``title`` is ECGInstruct's ``"source"`` value; ``folder``
the image folder and ``id_prefix`` the ECGBench row-id prefix.
"""
from __future__ import annotations

from dataclasses import dataclass

from llava_ecg.errors import LlavaEcgError
from llava_ecg.registry import Registry, UnknownNameError

__all__ = ["Source", "SOURCES", "READER_NAMES", "CHALLENGE_DATABASES", "CHALLENGE_SOURCES", "canonical_source", "get_source",
           "register_source_name", "UnknownSourceError"]


class UnknownSourceError(UnknownNameError):
    """A ``--source`` / ``source=`` that no source or alias matches."""


@dataclass(frozen=True)
class Source:
    name: str
    title: str
    folder: str
    id_prefix: str
    reader: str | None


SOURCES: Registry[Source] = Registry("source", normalize=str.lower, error=UnknownSourceError)

#: the readers ``llava_ecg.signals`` ships, by name (a source may name one of them as its ``reader``)
READER_NAMES = ("ptbxl", "mimic", "code15", "challenge", "wfdb")


def register_source_name(source: Source, *aliases: str) -> Source:
    if source.reader is not None and not isinstance(source.reader, str):
        raise LlavaEcgError(f"source {source.name!r}: reader must be a reader name, got {source.reader!r}")
    return SOURCES.register(source.name, source, aliases=aliases)


for _source, _aliases in (
    (Source("ptbxl", "PTB-XL", "ptb-xl", "ptb-xl", "ptbxl"), ("ptb-xl", "ptb_xl")),
    (Source("mimic", "MIMIC-IV-ECG", "mimic", "mimic", "mimic"), ("mimic-iv-ecg", "mimic-iv")),
    (Source("code15", "CODE-15%", "code15", "code15", "code15"), ("code-15", "code-15%", "code15%")),
    (Source("ecgqa", "ECG-QA", "ptb-xl", "ptb-xl", "ptbxl"), ("ecg-qa",)),
    (Source("cpsc", "CPSC-2018", "cpsc", "cpsc", "challenge"), ("cpsc2018", "cpsc-2018")),
    (Source("g12", "G12EC", "g12", "g12", "challenge"), ("georgia", "g12ec")),
    (Source("csn", "CSN", "csn", "csn", "challenge"), ("chapman", "ningbo", "chapman_ningbo")),
    (Source("synthetic", "synthetic", "synthetic", "synthetic", None), ()),
    (Source("challenge", "PhysioNet-Challenge", "challenge", "challenge", "challenge"), ("cinc",)),
    (Source("custom", "custom", "custom", "custom", None), ("wfdb", "generic", "ptbdb")),
):
    register_source_name(_source, *_aliases)

# ``llava_ecg.signals`` marks Challenge-format records source="challenge" plus the database they come from.
CHALLENGE_DATABASES = {"cpsc": "cpsc", "cpsc_extra": "cpsc", "georgia": "g12", "chapman_ningbo": "csn"}
# the sources a PhysioNet/CinC 2020/21 folder holds records of
CHALLENGE_SOURCES = ("cpsc", "g12", "csn", "ptbxl")


def canonical_source(name: str | None) -> str:
    """The source name for ``name`` or an alias (``None`` or empty: ``custom``)."""
    return SOURCES.canonical(name) if name else "custom"


def get_source(name: str | None) -> Source:
    return SOURCES[canonical_source(name)]
