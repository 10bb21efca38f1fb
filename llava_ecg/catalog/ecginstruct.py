"""What ECGInstruct is, in numbers (PULSE v1): Table A1's rows per source x task family x format, and the
ablation training sets and results of Tables 5-6.

Cells are ``(family, format)`` with families feature, rhythm, morphology, report and formats close, open, fill,
mcq (ECGInstruct ``metadata.type`` close-ended, open-ended, fill-in-the-blank, multiple-choice).
"""
from __future__ import annotations

Cell = tuple[str, str]
# ECGInstruct Table A1 (PULSE v1): rows per source x family x format.
TABLE_A1: dict[str, dict[Cell, int]] = {
    "ptbxl": {("feature", "close"): 22759, ("feature", "open"): 906, ("feature", "fill"): 449,
              ("feature", "mcq"): 5716, ("rhythm", "close"): 19550, ("rhythm", "open"): 201,
              ("rhythm", "fill"): 436, ("rhythm", "mcq"): 16179, ("morphology", "close"): 50166,
              ("morphology", "open"): 2649, ("morphology", "fill"): 680, ("morphology", "mcq"): 13432,
              ("report", "open"): 16302},
    "mimic": {("feature", "close"): 759, ("feature", "open"): 4759, ("feature", "fill"): 6470,
              ("feature", "mcq"): 17186, ("rhythm", "close"): 48625, ("rhythm", "open"): 5262,
              ("rhythm", "fill"): 11487, ("rhythm", "mcq"): 49352, ("morphology", "close"): 8241,
              ("morphology", "open"): 81080, ("morphology", "fill"): 18264, ("morphology", "mcq"): 61456,
              ("report", "open"): 486746},
    "code15": {("feature", "close"): 22177, ("rhythm", "close"): 13893, ("morphology", "close"): 31570},
    "ecgqa": {("feature", "close"): 40154, ("rhythm", "close"): 8993, ("morphology", "close"): 90211},
}

# Ablations: source letters P M C E, task letters F R M C (C = clinical report)
SOURCE_LETTERS = {"P": "PTB-XL", "M": "MIMIC-IV-ECG", "C": "CODE-15%", "E": "ECG-QA"}
TASK_LETTERS = {"F": "feature", "R": "rhythm", "M": "morphology", "C": "report"}
# PULSE v1 ablations: Table 5 varies the data sources (all tasks), Table 6 the task families (all sources)
ABLATIONS: dict[str, dict[str, tuple[str, str]]] = {
    "table5": {"P": ("P", "FRMC"), "P+M": ("PM", "FRMC"), "P+M+C": ("PMC", "FRMC"), "P+M+C+E": ("PMCE", "FRMC")},
    "table6": {"F": ("PMCE", "F"), "F+R": ("PMCE", "FR"), "F+R+M": ("PMCE", "FRM"), "F+R+M+C": ("PMCE", "FRMC")},
}

# Headline metric per benchmark in the tables' column order (F1 for multi-label subsets, judge score for
# report/arena, accuracy elsewhere)
ABLATION_COLUMNS = ("ptb-test", "ptb-test-report", "csn-test-no-cot", "code15-test", "ecgqa-test", "cpsc-test",
           "g12-test-no-cot", "mmmu-ecg", "arena")
ABLATION_TITLES = ("PTB F1", "Report", "CSN", "CODE F1", "ECG-QA", "CPSC F1", "G12", "MMMU", "Arena")
# PULSE v1 Table 5 (data sources) and Table 6 (task families), headline metric per column in COLUMNS order
ABLATION_PAPER = {
    "table5": {"P": (68.2, 56.7, 82.8, 31.5, 31.8, 23.4, 65.4, 40.0, 28.4),
               "P+M": (74.1, 62.4, 88.7, 48.5, 35.8, 52.4, 78.8, 58.5, 37.0),
               "P+M+C": (74.1, 63.8, 87.5, 85.8, 43.4, 51.0, 75.5, 55.5, 39.4),
               "P+M+C+E (PULSE)": (74.8, 61.3, 85.2, 85.4, 73.8, 57.6, 78.2, 58.0, 38.9)},
    "table6": {"F": (12.3, 36.0, 56.6, 11.2, 54.8, 2.5, 11.2, 34.0, 12.4),
               "F+R": (26.9, 54.0, 83.8, 73.3, 61.4, 31.0, 67.3, 47.5, 25.3),
               "F+R+M": (70.4, 57.6, 85.2, 82.7, 68.6, 43.8, 71.0, 52.5, 30.4),
               "F+R+M+C (PULSE)": (74.8, 61.3, 85.2, 85.4, 73.8, 57.6, 78.2, 58.0, 38.9)},
}


