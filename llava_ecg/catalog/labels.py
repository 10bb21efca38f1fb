"""Label spaces: every label vocabulary the project names, with codes and display names, defined once.

A :class:`LabelSpace` is one source's native label set (PTB-XL SCP statements, CODE-15% classes, the CPSC
2018 classes, the Challenge SNOMED tables for G12EC/CSN, or a generic English vocabulary for MIMIC-IV-ECG
machine statements and synthetic records). Every :class:`Label` belongs to one task family, ``rhythm``
(rhythm, conduction blocks, ectopy, pacing) or ``morphology`` (wave shape, ST/T, hypertrophy, infarction),
so distractors for a rhythm question are always rhythms from the same vocabulary.

The PTB-XL table below is the content of PTB-XL 1.0.3 ``scp_statements.csv`` (code, description,
statement kind, diagnostic class, subclass; dataset licence CC BY 4.0, Wagner et al. 2020).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from llava_ecg.registry import Registry

FAMILIES = ("feature", "rhythm", "morphology", "report")


@dataclass(frozen=True)
class Label:
    code: str
    name: str
    family: str  # "rhythm" | "morphology"
    group: str = ""  # e.g. PTB-XL diagnostic superclass

    def display(self) -> str:
        """``ABBR(name)`` as ECGBench writes options."""
        return f"{self.code}({self.name})"


@dataclass
class LabelSpace:
    name: str
    labels: list[Label]
    by_code: dict[str, Label] = field(init=False, repr=False)

    def __post_init__(self):
        self.by_code = {label.code: label for label in self.labels}

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(label.code for label in self.labels)

    def __contains__(self, code: str) -> bool:
        return code in self.by_code

    def get(self, code: str) -> Label | None:
        return self.by_code.get(code)

    def family(self, family: str) -> list[Label]:
        return [label for label in self.labels if label.family == family]


# --- PTB-XL SCP statements (code, description, kind, diagnostic class, subclass) -----------------------------
PTBXL_SCP: tuple[tuple[str, str, str, str, str], ...] = (
    ('NDT', 'non-diagnostic T abnormalities', 'diagnostic+form', 'STTC', 'STTC'),
    ('NST_', 'non-specific ST changes', 'diagnostic+form', 'STTC', 'NST_'),
    ('DIG', 'digitalis-effect', 'diagnostic+form', 'STTC', 'STTC'),
    ('LNGQT', 'long QT-interval', 'diagnostic+form', 'STTC', 'STTC'),
    ('NORM', 'normal ECG', 'diagnostic', 'NORM', 'NORM'),
    ('IMI', 'inferior myocardial infarction', 'diagnostic', 'MI', 'IMI'),
    ('ASMI', 'anteroseptal myocardial infarction', 'diagnostic', 'MI', 'AMI'),
    ('LVH', 'left ventricular hypertrophy', 'diagnostic', 'HYP', 'LVH'),
    ('LAFB', 'left anterior fascicular block', 'diagnostic', 'CD', 'LAFB/LPFB'),
    ('ISC_', 'non-specific ischemic', 'diagnostic', 'STTC', 'ISC_'),
    ('IRBBB', 'incomplete right bundle branch block', 'diagnostic', 'CD', 'IRBBB'),
    ('1AVB', 'first degree AV block', 'diagnostic', 'CD', '_AVB'),
    ('IVCD', 'non-specific intraventricular conduction disturbance (block)', 'diagnostic', 'CD', 'IVCD'),
    ('ISCAL', 'ischemic in anterolateral leads', 'diagnostic', 'STTC', 'ISCA'),
    ('CRBBB', 'complete right bundle branch block', 'diagnostic', 'CD', 'CRBBB'),
    ('CLBBB', 'complete left bundle branch block', 'diagnostic', 'CD', 'CLBBB'),
    ('ILMI', 'inferolateral myocardial infarction', 'diagnostic', 'MI', 'IMI'),
    ('LAO/LAE', 'left atrial overload/enlargement', 'diagnostic', 'HYP', 'LAO/LAE'),
    ('AMI', 'anterior myocardial infarction', 'diagnostic', 'MI', 'AMI'),
    ('ALMI', 'anterolateral myocardial infarction', 'diagnostic', 'MI', 'AMI'),
    ('ISCIN', 'ischemic in inferior leads', 'diagnostic', 'STTC', 'ISCI'),
    ('INJAS', 'subendocardial injury in anteroseptal leads', 'diagnostic', 'MI', 'AMI'),
    ('LMI', 'lateral myocardial infarction', 'diagnostic', 'MI', 'LMI'),
    ('ISCIL', 'ischemic in inferolateral leads', 'diagnostic', 'STTC', 'ISCI'),
    ('LPFB', 'left posterior fascicular block', 'diagnostic', 'CD', 'LAFB/LPFB'),
    ('ISCAS', 'ischemic in anteroseptal leads', 'diagnostic', 'STTC', 'ISCA'),
    ('INJAL', 'subendocardial injury in anterolateral leads', 'diagnostic', 'MI', 'AMI'),
    ('ISCLA', 'ischemic in lateral leads', 'diagnostic', 'STTC', 'ISCA'),
    ('RVH', 'right ventricular hypertrophy', 'diagnostic', 'HYP', 'RVH'),
    ('ANEUR', 'ST-T changes compatible with ventricular aneurysm', 'diagnostic', 'STTC', 'STTC'),
    ('RAO/RAE', 'right atrial overload/enlargement', 'diagnostic', 'HYP', 'RAO/RAE'),
    ('EL', 'electrolytic disturbance or drug (former EDIS)', 'diagnostic', 'STTC', 'STTC'),
    ('WPW', 'Wolf-Parkinson-White syndrome', 'diagnostic', 'CD', 'WPW'),
    ('ILBBB', 'incomplete left bundle branch block', 'diagnostic', 'CD', 'ILBBB'),
    ('IPLMI', 'inferoposterolateral myocardial infarction', 'diagnostic', 'MI', 'IMI'),
    ('ISCAN', 'ischemic in anterior leads', 'diagnostic', 'STTC', 'ISCA'),
    ('IPMI', 'inferoposterior myocardial infarction', 'diagnostic', 'MI', 'IMI'),
    ('SEHYP', 'septal hypertrophy', 'diagnostic', 'HYP', 'SEHYP'),
    ('INJIN', 'subendocardial injury in inferior leads', 'diagnostic', 'MI', 'IMI'),
    ('INJLA', 'subendocardial injury in lateral leads', 'diagnostic', 'MI', 'AMI'),
    ('PMI', 'posterior myocardial infarction', 'diagnostic', 'MI', 'PMI'),
    ('3AVB', 'third degree AV block', 'diagnostic', 'CD', '_AVB'),
    ('INJIL', 'subendocardial injury in inferolateral leads', 'diagnostic', 'MI', 'IMI'),
    ('2AVB', 'second degree AV block', 'diagnostic', 'CD', '_AVB'),
    ('ABQRS', 'abnormal QRS', 'form', '', ''),
    ('PVC', 'ventricular premature complex', 'form', '', ''),
    ('STD_', 'non-specific ST depression', 'form', '', ''),
    ('VCLVH', 'voltage criteria (QRS) for left ventricular hypertrophy', 'form', '', ''),
    ('QWAVE', 'Q waves present', 'form', '', ''),
    ('LOWT', 'low amplitude T-waves', 'form', '', ''),
    ('NT_', 'non-specific T-wave changes', 'form', '', ''),
    ('PAC', 'atrial premature complex', 'form', '', ''),
    ('LPR', 'prolonged PR interval', 'form', '', ''),
    ('INVT', 'inverted T-waves', 'form', '', ''),
    ('LVOLT', 'low QRS voltages in the frontal and horizontal leads', 'form', '', ''),
    ('HVOLT', 'high QRS voltage', 'form', '', ''),
    ('TAB_', 'T-wave abnormality', 'form', '', ''),
    ('STE_', 'non-specific ST elevation', 'form', '', ''),
    ('PRC(S)', 'premature complex(es)', 'form', '', ''),
    ('SR', 'sinus rhythm', 'rhythm', '', ''),
    ('AFIB', 'atrial fibrillation', 'rhythm', '', ''),
    ('STACH', 'sinus tachycardia', 'rhythm', '', ''),
    ('SARRH', 'sinus arrhythmia', 'rhythm', '', ''),
    ('SBRAD', 'sinus bradycardia', 'rhythm', '', ''),
    ('PACE', 'normal functioning artificial pacemaker', 'rhythm', '', ''),
    ('SVARR', 'supraventricular arrhythmia', 'rhythm', '', ''),
    ('BIGU', 'bigeminal pattern (unknown origin, SV or Ventricular)', 'rhythm', '', ''),
    ('AFLT', 'atrial flutter', 'rhythm', '', ''),
    ('SVTAC', 'supraventricular tachycardia', 'rhythm', '', ''),
    ('PSVT', 'paroxysmal supraventricular tachycardia', 'rhythm', '', ''),
    ('TRIGU', 'trigeminal pattern (unknown origin, SV or Ventricular)', 'rhythm', '', ''),
)

# ECGBench ptb-test classes: PTB-XL diagnostic superclasses with the display names its prompt uses
PTBXL_SUPERCLASS_SPACE = LabelSpace("ptbxl-superclass", [
    Label("NORM", "Normal ECG", "morphology"), Label("MI", "Myocardial Infarction", "morphology"),
    Label("STTC", "ST/T Change", "morphology"), Label("CD", "Conduction Disturbance", "rhythm"),
    Label("HYP", "Hypertrophy", "morphology"),
])
PTBXL_SUPERCLASSES = PTBXL_SUPERCLASS_SPACE.codes
# Conduction disturbances, ectopy and pacing are asked as rhythm questions (PULSE's "heart rhythm analysis"
# covers "arrhythmias, conduction abnormalities, pacing patterns").
_PTBXL_RHYTHM_FORMS = {"PVC", "PAC", "PRC(S)", "LPR"}


def _ptbxl_family(code: str, kind: str, superclass: str) -> str:
    if "rhythm" in kind or superclass == "CD" or code in _PTBXL_RHYTHM_FORMS:
        return "rhythm"
    return "morphology"


PTBXL_SPACE = LabelSpace("ptbxl", [
    Label(code, desc, _ptbxl_family(code, kind, cls), cls) for code, desc, kind, cls, _sub in PTBXL_SCP
])
PTBXL_SCP_CLASS = {code: cls for code, _d, _k, cls, _s in PTBXL_SCP if cls}
# Membership from scp_statements.csv (diagnostic == 1 -> diagnostic_class); the signals stage uses it only when
# a PTB-XL root has no scp_statements.csv, otherwise the CSV is authoritative.
PTBXL_SUPERCLASS_MEMBERS = {cls: tuple(c for c, k in PTBXL_SCP_CLASS.items() if k == cls) for cls in PTBXL_SUPERCLASSES}

# --- CODE-15% (exams.csv columns) ------------------------------------------------------------------------------
# Conduction classes count as morphology (block patterns are read from the PR/QRS shape), as PULSE's Table A1
# has CODE-15% morphology rows; docs/instruct.md gives the mapping.
CODE15_SPACE = LabelSpace("code15", [
    Label("1dAVb", "1st degree AV block", "morphology"),
    Label("RBBB", "right bundle branch block", "morphology"),
    Label("LBBB", "left bundle branch block", "morphology"),
    Label("SB", "sinus bradycardia", "rhythm"),
    Label("ST", "sinus tachycardia", "rhythm"),
    Label("AF", "atrial fibrillation", "rhythm"),
])
CODE15_LABELS = CODE15_SPACE.codes

# --- CPSC 2018 classes as ECGBench names them (cpsc-test prompt) ------------------------------------------------
CPSC_SPACE = LabelSpace("cpsc", [
    Label("NORM", "Normal ECG", "morphology"),
    Label("AF", "Atrial fibrillation", "rhythm"),
    Label("I-AVB", "First-degree atrioventricular block", "rhythm"),
    Label("LBBB", "Left bundle branch block", "rhythm"),
    Label("RBBB", "Right bundle branch block", "rhythm"),
    Label("PAC", "Premature atrial contraction", "rhythm"),
    Label("PVC", "Premature ventricular contraction", "rhythm"),
    Label("STD", "ST-segment depression", "morphology"),
    Label("STE", "ST-segment elevated", "morphology"),
])
CPSC_LABELS = CPSC_SPACE.codes
# CPSC 2018's own PVC class is coded 164884008 ("ventricular ectopics"), not 427172004; the Challenge's scored
# equivalents (CLBBB=LBBB, CRBBB=RBBB, SVPB=PAC, 427172004/17338001=PVC) map too, so records of other
# databases land in the same space.
SNOMED_TO_CPSC = {
    "426783006": "NORM", "164889003": "AF", "270492004": "I-AVB", "164909002": "LBBB", "733534002": "LBBB",
    "59118001": "RBBB", "713427006": "RBBB", "284470004": "PAC", "63593006": "PAC", "164884008": "PVC",
    "427172004": "PVC", "17338001": "PVC", "429622005": "STD", "164931005": "STE",
}
# CPSC 2018 REFERENCE.csv class numbers
CPSC_REFERENCE_CLASSES = dict(enumerate(CPSC_LABELS, start=1))


def to_cpsc(codes: Iterable) -> list[str]:
    """CPSC labels (in ``CPSC_LABELS`` order) for SNOMED codes; unmapped codes are ignored."""
    found = {SNOMED_TO_CPSC[str(c).strip()] for c in codes if str(c).strip() in SNOMED_TO_CPSC}
    return [label for label in CPSC_LABELS if label in found]

# --- generic English vocabulary (MIMIC-IV-ECG machine statements, synthetic and hospital data) ----------------
# (code, name, family, regular expression over lower-cased statement text)
GENERIC_VOCAB: tuple[tuple[str, str, str, str], ...] = (
    ("SR", "sinus rhythm", "rhythm", r"\bsinus rhythm\b|^normal sinus"),
    ("SB", "sinus bradycardia", "rhythm", r"sinus bradycardia"),
    ("STACH", "sinus tachycardia", "rhythm", r"sinus tachycardia"),
    ("SARRH", "sinus arrhythmia", "rhythm", r"sinus arrhythmia"),
    ("AF", "atrial fibrillation", "rhythm", r"atrial fibrillation|\bafib\b"),
    ("AFL", "atrial flutter", "rhythm", r"atrial flutter"),
    ("SVT", "supraventricular tachycardia", "rhythm", r"supraventricular tachycardia"),
    ("JR", "junctional rhythm", "rhythm", r"junctional rhythm"),
    ("1AVB", "first-degree AV block", "rhythm", r"(1st|first)[- ]degree a-?v block|prolonged pr"),
    ("2AVB", "second-degree AV block", "rhythm", r"(2nd|second)[- ]degree a-?v block|mobitz|wenckebach"),
    ("3AVB", "third-degree AV block", "rhythm", r"(3rd|third)[- ]degree a-?v block|complete heart block"),
    ("RBBB", "right bundle branch block", "rhythm", r"(?<!incomplete )right bundle branch block|\brbbb\b"),
    ("IRBBB", "incomplete right bundle branch block", "rhythm", r"incomplete right bundle branch block"),
    ("LBBB", "left bundle branch block", "rhythm", r"(?<!incomplete )left bundle branch block|\blbbb\b"),
    ("LAFB", "left anterior fascicular block", "rhythm", r"left anterior fascicular block|left anterior hemiblock"),
    ("LPFB", "left posterior fascicular block", "rhythm", r"left posterior fascicular block"),
    ("IVCD", "intraventricular conduction delay", "rhythm", r"intraventricular conduction (delay|defect)"),
    ("WPW", "Wolff-Parkinson-White pattern", "rhythm", r"wolff|pre-?excitation|\bwpw\b"),
    ("PAC", "premature atrial contractions", "rhythm", r"(premature atrial|atrial premature)|\bpacs?\b"),
    ("PVC", "premature ventricular contractions", "rhythm", r"(premature ventricular|ventricular premature)|\bpvcs?\b"),
    ("PACE", "paced rhythm", "rhythm", r"\bpaced\b|pacemaker|pacing"),
    ("NORM", "normal ECG", "morphology", r"^normal ecg|\bnormal ecg\b"),
    ("LVH", "left ventricular hypertrophy", "morphology", r"left ventricular hypertrophy|\blvh\b"),
    ("RVH", "right ventricular hypertrophy", "morphology", r"right ventricular hypertrophy|\brvh\b"),
    ("LAE", "left atrial enlargement", "morphology", r"left atrial (enlargement|abnormality|overload)"),
    ("RAE", "right atrial enlargement", "morphology", r"right atrial (enlargement|abnormality|overload)"),
    ("AMI", "anterior myocardial infarction", "morphology", r"anterior (wall )?(myocardial )?infarct"),
    ("IMI", "inferior myocardial infarction", "morphology", r"inferior (wall )?(myocardial )?infarct"),
    ("LMI", "lateral myocardial infarction", "morphology", r"(?<!antero)lateral (wall )?(myocardial )?infarct"),
    ("STE", "ST elevation", "morphology", r"st elevation|st-elevation"),
    ("STD", "ST depression", "morphology", r"st depression|st-depression"),
    ("TAB", "T-wave abnormality", "morphology", r"t[- ]wave (abnormal|change|inversion)|inverted t"),
    ("NSSTT", "nonspecific ST-T changes", "morphology", r"nonspecific st|non-specific st|st-t (wave )?(change|abnormal)"),
    ("LQT", "prolonged QT interval", "morphology", r"(long|prolonged) qt"),
    ("LOWV", "low QRS voltage", "morphology", r"low (qrs )?voltage"),
    ("LAD", "left axis deviation", "morphology", r"left axis deviation"),
    ("RAD", "right axis deviation", "morphology", r"right axis deviation"),
    ("PRWP", "poor R-wave progression", "morphology", r"poor r[- ]wave progression"),
)
GENERIC_SPACE = LabelSpace("generic", [Label(c, n, f) for c, n, f, _ in GENERIC_VOCAB])
_GENERIC_PATTERNS = [(code, re.compile(pattern)) for code, _n, _f, pattern in GENERIC_VOCAB]
# Synthetic rhythm names (llava_ecg.signals.synthetic) and other common spellings -> generic codes.
GENERIC_ALIASES = {
    "sinus": "SR", "nsr": "SR", "normal": "SR", "sinus_rhythm": "SR", "sr": "SR",
    "brady": "SB", "bradycardia": "SB", "sinus_bradycardia": "SB", "sb": "SB", "sbrad": "SB",
    "tachy": "STACH", "tachycardia": "STACH", "sinus_tachycardia": "STACH", "stach": "STACH", "st": "STACH",
    "af": "AF", "afib": "AF", "atrial_fibrillation": "AF",
    "afl": "AFL", "aflt": "AFL", "flutter": "AFL", "atrial_flutter": "AFL",
    "1avb": "1AVB", "iavb": "1AVB", "i-avb": "1AVB", "1davb": "1AVB", "first_degree_av_block": "1AVB",
    "2avb": "2AVB", "3avb": "3AVB", "chb": "3AVB",
    "rbbb": "RBBB", "crbbb": "RBBB", "lbbb": "LBBB", "clbbb": "LBBB", "irbbb": "IRBBB",
    "pac": "PAC", "apb": "PAC", "svpb": "PAC", "pvc": "PVC", "vpb": "PVC", "veb": "PVC",
    "paced": "PACE", "pace": "PACE", "pacing": "PACE",
    "lvh": "LVH", "rvh": "RVH", "mi": "AMI", "ste": "STE", "std": "STD", "lqt": "LQT", "long_qt": "LQT",
}


def generic_codes_from_text(text: str) -> list[str]:
    """Generic codes whose pattern occurs in free-text statements (one statement per line or sentence)."""
    found: list[str] = []
    for statement in re.split(r"[\n;.]+", text.lower()):
        statement = statement.strip()
        if not statement:
            continue
        for code, pattern in _GENERIC_PATTERNS:
            if code not in found and pattern.search(statement):
                found.append(code)
    # "incomplete RBBB" also matches nothing else; "sinus bradycardia" also says sinus rhythm is present
    return found


def generic_code(name: str) -> str | None:
    """Map a label name or abbreviation (any spelling) to a generic code, or ``None``."""
    key = name.strip()
    if key in GENERIC_SPACE:
        return key
    lowered = key.lower().replace(" ", "_")
    if lowered in GENERIC_ALIASES:
        return GENERIC_ALIASES[lowered]
    codes = generic_codes_from_text(key)
    return codes[0] if codes else None


SPACES: Registry[LabelSpace] = Registry("label space")


def register_space(space: LabelSpace, *, replace: bool = False) -> LabelSpace:
    return SPACES.register(space.name, space, replace=replace)


for _space in (PTBXL_SPACE, PTBXL_SUPERCLASS_SPACE, CODE15_SPACE, CPSC_SPACE, GENERIC_SPACE):
    register_space(_space)


def ptbxl_superclasses(scp_codes) -> list[str]:
    """Diagnostic superclasses of a PTB-XL record, the official ``example_physionet.py`` way (any likelihood)."""
    found = {PTBXL_SCP_CLASS[code] for code in scp_codes if code in PTBXL_SCP_CLASS}
    return [cls for cls in PTBXL_SUPERCLASSES if cls in found]


# --- G12EC / CSN: options come from the Challenge 2021 SNOMED union table, as in ECGBench ----------------------
_RHYTHM_WORDS = ("rhythm", "brady", "tachy", "fibrillation", "flutter", "block", "premature", "ectopic",
                 "pacing", "paced", "pacemaker", "beats", "arrhythmia", "wandering", "escape", "bigeminy",
                 "trigeminy", "complexes", "wolff", "pre-excitation", "av ", "conduction")


def _is_rhythm_name(name: str) -> bool:
    lowered = name.lower()
    return any(w in lowered for w in _RHYTHM_WORDS)


def challenge_space(source: str) -> LabelSpace:
    """The label space of a Challenge database (``g12``, ``csn``, ``challenge``): one label per abbreviation."""
    if source not in SPACES:
        from .snomed import challenge_label_table

        labels, seen = [], set()
        for _snomed, abbr, name in challenge_label_table():
            if abbr not in seen:
                seen.add(abbr)
                labels.append(Label(abbr, name, "rhythm" if _is_rhythm_name(name) else "morphology"))
        register_space(LabelSpace(source, labels))
    return SPACES[source]
