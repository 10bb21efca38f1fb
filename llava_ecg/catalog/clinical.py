"""What label codes mean clinically, per label space: display names, synonyms, implications, overlaps.

Three relations keep generated questions correct:

* **equivalent** codes name one finding (``LAE``/``LAA``/``LAH``; ``CRBBB``/``RBBB``; ``IAVB``/``LPR``);
* **implies** edges say a code is true whenever another is (``SB`` => ``Brady``; any AV block => ``AVB``;
  PTB-XL ``PVC`` => ``PRC(S)``); the closure is transitive;
* **overlapping** groups hold codes whose truth cannot be judged from a different one in the group (MI
  localisations, ST/T subtypes, voltage/hypertrophy criteria): a sibling of a present code is undecided.

:func:`blocked` is the set a question may never use as a *negative* (a "no" question or an MCQ distractor) for a
record: its codes, their synonyms, everything they imply or are implied by, and their overlap siblings.
:func:`display_name` is the clinical spelling used in answers ("ST changes", "AV block"), never a lower-cased
code. Codes missing from the tables keep their native names with acronyms restored (:func:`clinical_case`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache


@dataclass(frozen=True)
class Semantics:
    equivalent: tuple[frozenset[str], ...] = ()
    implies: dict[str, frozenset[str]] = field(default_factory=dict)
    overlapping: tuple[frozenset[str], ...] = ()
    display: dict[str, str] = field(default_factory=dict)
    # never asked as a negative: clinical conditions that are not ECG findings, catch-all parents, technical notes
    never_negative: frozenset[str] = frozenset()


def _eq(*groups: str) -> tuple[frozenset[str], ...]:
    return tuple(frozenset(g.split()) for g in groups)


def _implies(pairs: list[tuple[str, str]]) -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for child, parents in pairs:
        out.setdefault(child, set()).update(parents.split())
    return {k: frozenset(v) for k, v in out.items()}


# --- PTB-XL SCP statements ---------------------------------------------------------------------------------------
PTBXL = Semantics(
    equivalent=_eq("1AVB LPR"),
    implies=_implies([
        ("PVC", "PRC(S)"), ("PAC", "PRC(S)"), ("PSVT", "SVTAC SVARR"), ("SVTAC", "SVARR"), ("AFIB", "SVARR"),
        ("AFLT", "SVARR"), ("PAC", "SVARR"), ("SBRAD", "SR"), ("STACH", "SR"), ("SARRH", "SR"),
        ("INVT", "TAB_"), ("LOWT", "TAB_"), ("NT_", "TAB_"), ("VCLVH", "HVOLT"), ("BIGU", "PRC(S)"),
        ("TRIGU", "PRC(S)"),
    ]),
    overlapping=_eq(
        # any MI localisation or injury pattern vs Q waves / abnormal QRS
        "IMI ASMI ILMI AMI ALMI INJAS LMI INJAL IPLMI IPMI INJIN INJLA PMI INJIL QWAVE ABQRS",
        # ST/T: ischaemia localisations, non-specific changes, T-wave forms, ST deviations
        "NDT NST_ DIG LNGQT ISC_ ISCAL ISCIN ISCIL ISCAS ISCLA ISCAN ANEUR EL STD_ STE_ NT_ LOWT INVT TAB_ "
        "INJAS INJAL INJIN INJLA INJIL",
        # hypertrophy and voltage criteria
        "LVH RVH SEHYP LAO/LAE RAO/RAE VCLVH HVOLT",
        # wide or abnormal QRS from conduction disturbances
        "CLBBB CRBBB ILBBB IRBBB IVCD WPW LAFB LPFB ABQRS",
        # premature complexes and their patterns
        "PVC PAC PRC(S) BIGU TRIGU",
    ),
    display={
        "NDT": "non-diagnostic T-wave abnormalities", "NST_": "non-specific ST changes", "DIG": "digitalis effect",
        "LNGQT": "long QT interval", "NORM": "normal ECG", "ISC_": "non-specific ischaemic changes",
        "1AVB": "first-degree AV block", "2AVB": "second-degree AV block", "3AVB": "third-degree AV block",
        "IVCD": "non-specific intraventricular conduction disturbance",
        "ISCAL": "ischaemic changes in the anterolateral leads", "ISCIN": "ischaemic changes in the inferior leads",
        "ISCIL": "ischaemic changes in the inferolateral leads", "ISCAS": "ischaemic changes in the anteroseptal leads",
        "ISCLA": "ischaemic changes in the lateral leads", "ISCAN": "ischaemic changes in the anterior leads",
        "LAO/LAE": "left atrial overload/enlargement", "RAO/RAE": "right atrial overload/enlargement",
        "EL": "electrolyte disturbance or drug effect", "WPW": "Wolff-Parkinson-White pattern",
        "ABQRS": "abnormal QRS complexes", "PVC": "premature ventricular complexes",
        "PAC": "premature atrial complexes", "PRC(S)": "premature complexes", "STD_": "non-specific ST depression",
        "VCLVH": "voltage criteria for left ventricular hypertrophy", "QWAVE": "Q waves",
        "LOWT": "low-amplitude T waves", "NT_": "non-specific T-wave changes", "LPR": "prolonged PR interval",
        "INVT": "inverted T waves", "LVOLT": "low QRS voltage", "HVOLT": "high QRS voltage",
        "TAB_": "T-wave abnormality", "STE_": "non-specific ST elevation",
        "PACE": "normally functioning artificial pacemaker",
        "BIGU": "bigeminal pattern", "TRIGU": "trigeminal pattern",
        "ANEUR": "ST-T changes compatible with ventricular aneurysm",
    },
)

# --- CODE-15%: six classes, none implies another ----------------------------------------------------------------
CODE15 = Semantics(display={
    "1dAVb": "first-degree AV block", "RBBB": "right bundle branch block", "LBBB": "left bundle branch block",
    "SB": "sinus bradycardia", "ST": "sinus tachycardia", "AF": "atrial fibrillation"})

# --- CPSC 2018 classes --------------------------------------------------------------------------------------------
CPSC = Semantics(display={
    "NORM": "normal ECG", "AF": "atrial fibrillation", "I-AVB": "first-degree AV block",
    "LBBB": "left bundle branch block", "RBBB": "right bundle branch block", "PAC": "premature atrial contractions",
    "PVC": "premature ventricular contractions", "STD": "ST-segment depression", "STE": "ST-segment elevation"},
    overlapping=_eq("STD STE"))

# --- generic English vocabulary (MIMIC-IV-ECG statements, synthetic, hospital exports) ---------------------------
GENERIC = Semantics(
    implies=_implies([("SB", "SR"), ("STACH", "SR"), ("SARRH", "SR"), ("3AVB", "2AVB"), ("LAFB", "IVCD"),
                      ("LPFB", "IVCD")]),
    overlapping=_eq("AMI IMI LMI PRWP", "STE STD TAB NSSTT", "LVH RVH LAE RAE", "RBBB IRBBB LBBB IVCD",
                    "2AVB 3AVB", "AF AFL", "PAC PVC", "LAD LAFB", "1AVB 2AVB"),
    display={"1AVB": "first-degree AV block", "2AVB": "second-degree AV block", "3AVB": "third-degree AV block",
             "NORM": "normal ECG", "LQT": "prolonged QT interval", "NSSTT": "non-specific ST-T changes"},
)

# --- PhysioNet/CinC 2021 SNOMED abbreviations (G12EC, CSN, any Challenge folder) ---------------------------------
CHALLENGE = Semantics(
    never_negative=frozenset({"TIA", "HF", "HVD", "CHD", "ALR", "CD"}),
    equivalent=_eq("LAE LAA LAH", "RAH RAAb RAHV", "CRBBB RBBB", "CLBBB LBBB", "PAC SVPB", "PVC VPB VEB",
                   "IAVB LPR", "WPW VPEx", "NSIVCB DIB", "AF CAF", "LVH LVHV"),
    implies=_implies([
        ("SB", "Brady NSR"), ("STach", "NSR"), ("SA", "NSR"),
        ("LAE", "AH"), ("RAH", "AH"), ("LVH", "VH"), ("RVH", "VH"), ("LVS", "LVH"),
        ("RBBB", "BBB"), ("LBBB", "BBB"), ("IRBBB", "BBB"), ("ILBBB", "BBB"),
        ("IAVB", "AVB"), ("IIAVB", "AVB"), ("IIAVBII", "IIAVB"), ("MoI", "IIAVB"), ("CHB", "AVB"),
        ("CIAHB", "AVB"), ("PAF", "AF"), ("RAF", "AF"), ("AFAFL", "AF AFL"),
        ("PSVT", "SVT"), ("AVNRT", "SVT"), ("AVRT", "SVT"), ("ATach", "SVT"), ("JTach", "SVT"), ("PVT", "VTach"),
        ("AnMI", "MI"), ("AMI", "MI"), ("OldMI", "MI"), ("AnMIs", "MIs"), ("IIs", "MIs"), ("LIs", "MIs"),
        ("CMI", "MIs"), ("AMIs", "MIs"), ("TInv", "TAb"), ("STD", "STC"), ("STE", "STC"), ("ISTD", "STD"),
        ("STIAb", "STC"), ("VBig", "PVC"), ("VTrig", "PVC"), ("VPVC", "PVC"), ("AB", "PAC"), ("SVB", "PAC"),
        ("BPAC", "PAC"), ("VPP", "PR"), ("AP", "PR"), ("SAB", "SND"), ("SARR", "SND"), ("BTS", "SND"),
        ("CCR", "CVCL/CCVCL"), ("CR", "CVCL/CCVCL"), ("PPW", "PWC"), ("TPW", "PWC"), ("LAE", "PWC"),
        ("RAH", "PWC"),
    ]),
    overlapping=_eq(
        "MI AnMI AMI OldMI QAb MIs AnMIs IIs LIs CMI AMIs CHD abQRS FQRS RAb",
        "STC STD STE ISTD STIAb NSSTTA TAb TInv ERe MIs AnMIs IIs LIs CMI AMIs LVS BRU HTV",
        "LVH LVHV VH RVH LVS LAE RAH AH HTV PWC",
        "BBB RBBB LBBB IRBBB ILBBB NSIVCB DIB LAnFB LPFB abQRS WPW",
        "AF AFL AFAFL CAF PAF RAF ATach SVT PSVT AVNRT AVRT JTach ARH AAR WAP SAAWR",
        "JE JPC JTach AVJR AJR AED VEsB VEsR IR AIVR",
        "PR AP VPP FB",
        "Brady SB SND SAB SARR BTS AVB CHB IIAVB IIAVBII MoI",
        "LAD LAnFB CCR CR CVCL/CCVCL ICA RAD LPFB",
        "LQT SQT", "LPR SPRI IAVB WPW VPEx",
    ),
    display={
        "IAVB": "first-degree AV block", "IIAVB": "second-degree AV block",
        "IIAVBII": "Mobitz type II AV block", "MoI": "Mobitz type I (Wenckebach) AV block", "AVB": "AV block",
        "STC": "ST changes", "STD": "ST depression", "STE": "ST elevation", "STIAb": "ST interval abnormality",
        "ISTD": "inferior ST-segment depression", "NSSTTA": "non-specific ST-T abnormality",
        "TAb": "T-wave abnormality", "TInv": "T-wave inversion", "QAb": "Q-wave abnormality",
        "RAb": "R-wave abnormality", "UAb": "U-wave abnormality", "PWC": "P-wave change", "PPW": "prolonged P wave",
        "TPW": "tall P wave", "HTV": "high T-wave voltage", "LQRSV": "low QRS voltages", "abQRS": "abnormal QRS",
        "FQRS": "fragmented QRS", "PRWP": "poor R-wave progression", "LPR": "prolonged PR interval",
        "SPRI": "short PR interval", "LQT": "prolonged QT interval", "SQT": "short QT interval",
        "WPW": "Wolff-Parkinson-White pattern", "VPEx": "ventricular pre-excitation", "BRU": "Brugada pattern",
        "CCR": "counterclockwise rotation", "AVNRT": "AV nodal re-entrant tachycardia",
        "AVRT": "AV re-entrant tachycardia", "AVJR": "AV junctional rhythm", "AVD": "AV dissociation",
        "CIAHB": "congenital incomplete AV block", "BTS": "bradycardia-tachycardia syndrome",
        "ALR": "suspected arm lead reversal", "CVCL/CCVCL": "clockwise or counterclockwise vectorcardiographic loop",
        "NSR": "sinus rhythm", "PR": "paced rhythm", "Brady": "bradycardia", "LVHV": "left ventricular high voltage",
        "RAHV": "right atrial high voltage", "ERe": "early repolarization",
        "NSIVCB": "non-specific intraventricular conduction disorder", "LAnFB": "left anterior fascicular block",
        "SAAWR": "wandering atrial pacemaker (sinus to atrial)", "VEB": "ventricular ectopic beats",
        "TIA": "transient ischaemic attack", "PAC": "premature atrial contractions",
        "SVPB": "supraventricular premature beats", "VPB": "ventricular premature beats",
    },
)

SEMANTICS: dict[str, Semantics] = {"ptbxl": PTBXL, "code15": CODE15, "cpsc": CPSC, "generic": GENERIC,
                                   "g12": CHALLENGE, "csn": CHALLENGE, "challenge": CHALLENGE}


def semantics(space: str) -> Semantics:
    return SEMANTICS.get(space, Semantics())


# --- names ----------------------------------------------------------------------------------------------------------
_ACRONYMS = {"av": "AV", "st": "ST", "qt": "QT", "qrs": "QRS", "pr": "PR", "ecg": "ECG", "sa": "SA", "svt": "SVT",
             "t": "T", "p": "P", "r": "R", "u": "U", "q": "Q", "s-t": "ST", "st-t": "ST-T", "ii": "II", "i": "I"}
_PROPER = {"wolff": "Wolff", "parkinson": "Parkinson", "white": "White", "mobitz": "Mobitz",
           "wenckebach": "Wenckebach", "brugada": "Brugada"}


def clinical_case(name: str) -> str:
    """Restore acronyms and proper names in a lower-cased statement ("s t changes" -> "ST changes")."""
    text = " ".join(str(name).split())
    text = re.sub(r"\bs t\b", "ST", text, flags=re.I)
    text = re.sub(r"\b([tpqru]) wave\b", lambda m: f"{m.group(1).upper()}-wave", text, flags=re.I)
    words = []
    for word in text.split(" "):
        low = word.lower()
        words.append(_ACRONYMS.get(low) or _PROPER.get(low) or (word if word[:1].isupper() and word[1:2].isupper()
                                                                 else low if word[1:].islower() else word))
    return " ".join(words)


def display_name(space: str, code: str, native: str = "") -> str:
    """Clinical name of ``code`` in ``space`` for answers, lower-case first letter unless it is an acronym or a
    proper name (use :func:`sentence` at the start of a sentence)."""
    name = semantics(space).display.get(code)
    return name if name is not None else clinical_case(native or code)


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


# --- relations -----------------------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _closure(space: str) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """(synonyms of code incl. itself, transitive implications, overlap siblings) for every code mentioned."""
    sem = semantics(space)
    syn: dict[str, set[str]] = {}
    for group in sem.equivalent:
        for code in group:
            syn.setdefault(code, {code}).update(group)
    up: dict[str, set[str]] = {code: set(parents) for code, parents in sem.implies.items()}
    changed = True
    while changed:  # transitive closure, synonyms inherit each other's implications
        changed = False
        for code in list(up):
            for other in {code, *syn.get(code, ())}:
                for parent in list(up.get(other, ())):
                    new = {parent, *syn.get(parent, ()), *up.get(parent, ())} - up[code] - {code}
                    if new:
                        up[code] |= new
                        changed = True
    sib: dict[str, set[str]] = {}
    for group in sem.overlapping:
        for code in group:
            sib.setdefault(code, set()).update(group - {code})
    freeze = lambda d: {k: frozenset(v) for k, v in d.items()}  # noqa: E731
    return freeze(syn), freeze(up), freeze(sib)


def synonyms(space: str, code: str) -> frozenset[str]:
    return _closure(space)[0].get(code, frozenset({code}))


def implied(space: str, code: str) -> frozenset[str]:
    """Codes that are true whenever ``code`` is (not including ``code``)."""
    syn, up, _ = _closure(space)
    out = set()
    for c in synonyms(space, code):
        out |= up.get(c, frozenset())
    return frozenset(out - {code})


def related(space: str, a: str, b: str) -> bool:
    """Same finding, one implies the other, or overlapping: never both sides of a yes/no contrast."""
    if a == b or b in synonyms(space, a) or b in implied(space, a) or a in implied(space, b):
        return True
    sib = _closure(space)[2]
    names_b = synonyms(space, b)
    return any(names_b & sib.get(x, frozenset()) for x in synonyms(space, a))


def blocked(space: str, present) -> frozenset[str]:
    """Codes never to ask as a negative for a record with ``present`` codes."""
    present = set(present)
    syn, up, sib = _closure(space)
    out = set(present) | semantics(space).never_negative
    for code in present:
        names = synonyms(space, code)
        out |= names
        for c in names:
            out |= up.get(c, frozenset()) | sib.get(c, frozenset())
    for code, parents in up.items():  # children of a present code: their truth is unknown
        if parents & present:
            out.add(code)
    return frozenset(c for code in out for c in synonyms(space, code))
