"""The catalog is the one home of domain names: prompts, label spaces, sources and readers agree."""
import re

import pytest

from llava_ecg.catalog import labels as L
from llava_ecg.catalog.sources import READER_NAMES, SOURCES, UnknownSourceError, canonical_source, get_source
from llava_ecg.catalog.subsets import MULTILABEL, SUBSETS, get_subset
from llava_ecg.errors import LlavaEcgError


def _prompt_classes(prompt: str) -> list[tuple[str, str]]:
    """``CODE(name)`` pairs of a classification prompt's class line."""
    (line,) = [ln for ln in prompt.splitlines() if re.match(r"^[\w-]+\(", ln)]
    return re.findall(r"([\w-]+)\(([^)]*)\)", line)


@pytest.mark.parametrize("name", ["ptb-test", "cpsc-test"])
def test_every_classification_prompt_lists_exactly_its_label_space(name):
    subset = get_subset(name)
    space = {"ptb-test": L.PTBXL_SUPERCLASS_SPACE, "cpsc-test": L.CPSC_SPACE}[name]
    pairs = _prompt_classes(subset.prompt)
    assert [code for code, _ in pairs] == list(subset.labels) == list(space.codes)
    assert [display for _, display in pairs] == [label.name for label in space.labels]


def test_every_multilabel_subset_has_a_prompt_naming_its_labels():
    for subset in SUBSETS.values():
        if subset.kind != MULTILABEL:
            continue
        named = set(re.findall(r"\b[\w-]+\b", subset.prompt))
        asked = set(subset.extra_labels) or set(subset.labels)  # code15-test asks NORM/ABNORMAL only
        assert asked <= named, subset.name


def test_cpsc_space_maps_every_scored_challenge_equivalent():
    # the two copies of this table used to drift: 427172004 and 17338001 (Challenge PVC codes) were missing in one
    assert L.to_cpsc(["427172004", "17338001", "164884008"]) == ["PVC"]
    assert L.CPSC_REFERENCE_CLASSES[7] == "PVC" and len(L.CPSC_REFERENCE_CLASSES) == 9
    assert set(L.SNOMED_TO_CPSC.values()) == set(L.CPSC_LABELS)


def test_ptbxl_superclass_members_come_from_the_scp_table():
    assert set(L.PTBXL_SUPERCLASS_MEMBERS) == set(L.PTBXL_SUPERCLASSES)
    assert "IMI" in L.PTBXL_SUPERCLASS_MEMBERS["MI"] and "CLBBB" in L.PTBXL_SUPERCLASS_MEMBERS["CD"]
    assert L.ptbxl_superclasses({"IMI": 100, "LVH": 50, "SR": 0}) == ["MI", "HYP"]


def test_sources_resolve_aliases_and_name_a_shipped_reader():
    assert canonical_source("Georgia") == "g12" and canonical_source("PTB-XL") == "ptbxl"
    assert canonical_source(None) == "custom"
    for source in SOURCES.values():
        assert source.reader is None or source.reader in READER_NAMES, source
    assert get_source("ecgqa").reader == "ptbxl" and get_source("cpsc").reader == "challenge"
    with pytest.raises(UnknownSourceError, match="known: ptbxl, mimic") as err:
        canonical_source("nope")
    assert isinstance(err.value, LlavaEcgError)


def test_every_buildable_subset_names_a_catalog_source():
    from llava_ecg.instruct.bench import BUILDERS

    for name in BUILDERS:
        subset = get_subset(name)
        assert subset.source is None or subset.source in SOURCES, name

