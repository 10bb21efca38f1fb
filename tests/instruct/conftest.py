"""Fixtures for the instruct stage: synthetic ECGs with metadata shaped like each source's reader output,
the signals stage's on-disk mini datasets, and a fast fake renderer."""
from __future__ import annotations

import io

import pytest

from llava_ecg.signals.synthetic import RHYTHMS, synthesize


def fake_render(ecg, spec) -> bytes:
    """A tiny image whose bytes depend on the spec (the real renderer is tested in tests/render)."""
    from PIL import Image

    image = Image.new("L", (8, 4), color=spec["seed"] % 256)
    buf = io.BytesIO()
    image.save(buf, format="PNG" if spec["format"] == "png" else "JPEG")
    return buf.getvalue()


def _with_meta(ecg, **meta):
    """A copy of ``ecg`` (sharing the signal) with ``meta`` replaced."""
    from llava_ecg.signals.ecg import ECG

    return ECG(ecg.signal, ecg.fs, ecg.leads, dict(meta))


# ECG.meta as each signals reader writes it (see llava_ecg/signals/*.py)
SOURCE_METAS = {
    "ptbxl": [
        dict(source="ptbxl", scp_codes={"NORM": 100.0, "SR": 0.0}, report="sinus rhythm. normal ecg.", patient_id=1.0),
        dict(source="ptbxl", scp_codes={"IMI": 50.0, "ILMI": 50.0, "AFIB": 0.0, "PVC": 0.0}, patient_id=2.0,
             report="sinusrhythmus lagetyp normal inferiorer infarkt"),
        dict(source="ptbxl", scp_codes={"CLBBB": 100.0, "SBRAD": 0.0, "LVH": 50.0}, patient_id=3.0),
        dict(source="ptbxl", scp_codes={}, patient_id=4.0),
    ],
    "code15": [
        dict(source="code15", labels=["RBBB", "AF"], normal_ecg=False, patient_id=10),
        dict(source="code15", labels=[], normal_ecg=True, patient_id=11),
    ],
    "cpsc": [dict(source="challenge", database="cpsc", snomed=["164884008", "429622005"], cpsc_labels=["PVC", "STD"])],
    "g12": [dict(source="challenge", database="georgia", snomed=["164889003", "270492004"], labels=["AF", "IAVB"])],
    "csn": [dict(source="challenge", database="chapman_ningbo", snomed=["426177001"], labels=["SB"])],
    "mimic": [dict(source="mimic", subject_id=10000032, study_id=40689238,
                   report="Atrial fibrillation. Left bundle branch block. Abnormal ECG.",
                   labels=["Atrial fibrillation", "Left bundle branch block", "Abnormal ECG"],
                   hr=92.0, pr=None, qrs=152, qt=482, qtc=597, axis=-30)],
}


@pytest.fixture(scope="session")
def synthetic_pool():
    return [synthesize(r, seed=s) for s in range(2) for r in RHYTHMS]


@pytest.fixture(scope="session")
def source_ecgs(synthetic_pool):
    """(source, ref, ECG) triples covering every source kind, including synthetic rhythms."""
    out = []
    for ecg in synthetic_pool:
        out.append(("synthetic", f"synthetic/{ecg.meta['id']}", ecg))
    k = 0
    for source, metas in SOURCE_METAS.items():
        for meta in metas:
            ecg = synthesize(list(RHYTHMS)[k % len(RHYTHMS)], seed=100 + k)
            out.append((None, f"{source}/rec{k:03d}", _with_meta(ecg, **meta)))
            k += 1
    return out


def synthetic_records(pool, n, prefix="syn"):
    return [(f"{prefix}/{i:06d}", pool[i % len(pool)]) for i in range(n)]


@pytest.fixture(scope="session")
def mini_root(mini_datasets):
    return mini_datasets
