"""The one home of every domain name the stages share: record sources and their aliases, lead names, label
spaces (codes, display names, equivalences), SNOMED tables and the ECGBench subsets.

The bottom layer: it imports nothing from the stages, so ``signals`` and everything above can read from it.
"""
from .labels import SPACES, Label, LabelSpace
from .leads import STANDARD_LEADS
from .sources import SOURCES, Source, canonical_source, get_source
from .subsets import SUBSETS, Subset, get_subset

__all__ = ["SPACES", "Label", "LabelSpace", "STANDARD_LEADS", "SOURCES", "Source", "canonical_source",
           "get_source", "SUBSETS", "Subset", "get_subset"]
