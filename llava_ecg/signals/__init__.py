"""signals: read every ECG source the paper uses into one ``ECG`` type (mV, Hz, standard lead order, meta).

Public entry: ``read_record(path, *, source=None)``; whole datasets: ``iter_dataset(root, ...)``.
See docs/signals.md for the meta keys each source fills.
"""
from .dataset import SkipCounter, iter_dataset, parse_shard
from .ecg import ECG, ECGReadError, STANDARD_LEADS
from .ecgqa import iter_ecgqa
from .listing import SourceError, list_records
from llava_ecg.catalog.labels import CODE15_LABELS, CPSC_LABELS, PTBXL_SUPERCLASSES, to_cpsc
from llava_ecg.catalog.snomed import SNOMED, ecgbench_option, snomed_abbreviation, snomed_entry, snomed_name
from .ops import crop_or_pad, resample, select_leads, strip_zero_padding, window
from .ptbxl import PTBXLIndex, ptbxl_record_path
from .mimic import MimicIndex, mimic_record_path
from .read import READERS, detect_source, read_record, register_source
from .synthetic import RHYTHMS, register_rhythm, synthesize, synthetic_dataset
from .writers import write_wfdb

__all__ = [
    "ECG", "ECGReadError", "STANDARD_LEADS", "read_record", "detect_source", "register_source", "READERS",
    "iter_dataset", "SkipCounter", "parse_shard", "list_records", "SourceError", "iter_ecgqa", "PTBXLIndex",
    "ptbxl_record_path", "MimicIndex", "mimic_record_path", "SNOMED", "snomed_entry", "snomed_abbreviation",
    "snomed_name", "ecgbench_option", "to_cpsc", "CPSC_LABELS", "CODE15_LABELS", "PTBXL_SUPERCLASSES", "resample",
    "crop_or_pad", "window", "strip_zero_padding", "select_leads", "synthesize", "synthetic_dataset", "RHYTHMS",
    "register_rhythm", "write_wfdb",
]
