import math

import numpy as np
import pytest

from llava_ecg.signals import RHYTHMS, STANDARD_LEADS, synthesize, synthetic_dataset


def r_peaks(ecg, lead="II"):
    """Independent R-peak detector: band-limited slope energy + refractory period."""
    from scipy.signal import butter, filtfilt, find_peaks

    x = ecg.lead(lead).astype(np.float64)
    b, a = butter(2, [5 / (ecg.fs / 2), 30 / (ecg.fs / 2)], btype="band")
    energy = np.abs(np.gradient(filtfilt(b, a, x))) ** 2
    peaks, _ = find_peaks(energy, height=0.3 * np.percentile(energy, 99.5), distance=int(0.3 * ecg.fs))
    return peaks


@pytest.mark.parametrize("rhythm", sorted(RHYTHMS))
def test_shape_leads_meta_and_einthoven(rhythm):
    ecg = synthesize(rhythm, seed=3)
    assert ecg.signal.shape == (5000, 12) and ecg.signal.dtype == np.float32
    assert ecg.leads == list(STANDARD_LEADS) and ecg.fs == 500
    for key in ("id", "source", "labels", "rhythm", "hr", "pr", "qrs", "qt", "qtc", "axis", "age", "sex"):
        assert key in ecg.meta
    assert ecg.meta["source"] == "synthetic" and ecg.meta["rhythm"] == rhythm
    lead = {name: ecg.lead(name).astype(np.float64) for name in STANDARD_LEADS}
    tol = 1e-5
    np.testing.assert_allclose(lead["III"], lead["II"] - lead["I"], atol=tol)
    np.testing.assert_allclose(lead["aVR"], -(lead["I"] + lead["II"]) / 2, atol=tol)
    np.testing.assert_allclose(lead["aVL"], lead["I"] - lead["II"] / 2, atol=tol)
    np.testing.assert_allclose(lead["aVF"], lead["II"] - lead["I"] / 2, atol=tol)
    np.testing.assert_allclose(lead["aVR"] + lead["aVL"] + lead["aVF"], 0, atol=tol)
    # realistic amplitudes: the largest deflection of the record is between 0.5 and 4 mV
    assert 0.5 < np.abs(ecg.signal).max() < 4.0


@pytest.mark.parametrize("rhythm", sorted(RHYTHMS))
def test_heart_rate_matches_detected_beats(rhythm):
    ecg = synthesize(rhythm, seed=11, noise=0.005)
    peaks = r_peaks(ecg)
    detected = 60.0 * ecg.fs / np.mean(np.diff(peaks))
    assert detected == pytest.approx(ecg.meta["hr"], rel=0.08)
    lo, hi = RHYTHMS[rhythm].hr_range
    assert lo - 8 <= ecg.meta["hr"] <= hi + 8


def test_rate_classes():
    for seed in range(5):
        assert 60 <= synthesize("sinus", seed=seed).meta["hr"] <= 100 + 3
        assert synthesize("sinus_brady", seed=seed).meta["hr"] < 60
        assert synthesize("sinus_tachy", seed=seed).meta["hr"] > 100
        assert synthesize("avb1", seed=seed).meta["pr"] > 200
        assert synthesize("sinus", seed=seed).meta["pr"] <= 200


def test_afib_is_irregularly_irregular_and_sinus_is_regular():
    def rr_cv(ecg):
        rr = np.diff(r_peaks(ecg))
        return np.std(rr) / np.mean(rr)

    af = [rr_cv(synthesize("afib", seed=s, hr=90)) for s in range(4)]
    sr = [rr_cv(synthesize("sinus", seed=s, hr=75)) for s in range(4)]
    assert min(af) > 0.1 > max(sr)
    meta = synthesize("afib", seed=0).meta
    assert meta["pr"] is None and meta["labels"] == ["atrial fibrillation"]


def test_flutter_has_atrial_activity_between_beats():
    ecg = synthesize("aflutter", seed=2, hr=75, conduction=4, noise=0.0, wander=0.0)
    beats = np.asarray(ecg.meta["beats"])
    # between QRS-T complexes, lead II is dominated by the ~300/min sawtooth
    seg = ecg.lead("II")[int((beats[2] + 0.45) * ecg.fs):int((beats[3] - 0.02) * ecg.fs)]
    spectrum = np.abs(np.fft.rfft((seg - seg.mean()) * np.hanning(seg.size), n=8192))
    freqs = np.fft.rfftfreq(8192, 1 / ecg.fs)
    assert abs(freqs[np.argmax(spectrum)] - ecg.meta["atrial_rate"] / 60) < 0.8
    assert np.ptp(seg) > 0.15  # visible F waves (mV)
    assert ecg.meta["conduction"] == "4:1"


def test_pvc_beats_are_wide_and_premature():
    ecg = synthesize("pvc", seed=5, hr=70)
    assert ecg.meta["n_pvc"] >= 1 and "premature ventricular contractions" in ecg.meta["labels"]
    rr = np.diff(ecg.meta["beats"])
    assert rr.min() < 0.75 * np.median(rr)  # premature coupling
    assert rr.max() > 1.2 * np.median(rr)  # compensatory pause


def test_axis_ground_truth_matches_signal():
    for axis in (-30, 0, 45, 75):
        ecg = synthesize("sinus", seed=1, axis=axis, noise=0.0, wander=0.0)
        beat = ecg.meta["beats"][1]
        i0, i1 = int(beat * ecg.fs), int((beat + ecg.meta["qrs"] / 1000) * ecg.fs)
        area_i = ecg.lead("I")[i0:i1].sum()
        area_avf = ecg.lead("aVF")[i0:i1].sum()
        measured = math.degrees(math.atan2(area_avf, area_i))
        assert abs(measured - ecg.meta["axis"]) < 12, (axis, measured, ecg.meta["axis"])


def test_qtc_is_bazett():
    ecg = synthesize("sinus", seed=4, hr=60, qtc=420)
    assert ecg.meta["qtc"] == 420
    assert ecg.meta["qt"] == pytest.approx(420 * math.sqrt(60 / ecg.meta["hr"]), abs=15)


def test_deterministic_and_seed_sensitive():
    a, b, c = synthesize("afib", seed=7), synthesize("afib", seed=7), synthesize("afib", seed=8)
    np.testing.assert_array_equal(a.signal, b.signal)
    assert a.meta == b.meta
    assert not np.array_equal(a.signal, c.signal)


def test_fs_duration_and_overrides():
    ecg = synthesize("sinus", fs=250, duration=12.5, seed=0, hr=72, age=50, sex="female", id="x1")
    assert ecg.signal.shape == (3125, 12) and ecg.fs == 250
    assert ecg.meta["age"] == 50 and ecg.meta["sex"] == "female" and ecg.meta["id"] == "x1"
    assert ecg.meta["hr"] == pytest.approx(72, rel=0.05)
    with pytest.raises(TypeError, match="unknown overrides"):
        synthesize("sinus", heartrate=70)
    with pytest.raises(KeyError, match="unknown rhythm"):
        synthesize("torsades")


def test_synthetic_dataset_cycles_rhythms_deterministically():
    items = list(synthetic_dataset(6, ["sinus", "afib"], seed=1, duration=2.0))
    assert [e.meta["rhythm"] for e in items] == ["sinus", "afib"] * 3
    assert len({e.id for e in items}) == 6
    again = list(synthetic_dataset(6, ["sinus", "afib"], seed=1, duration=2.0))
    assert all(np.array_equal(x.signal, y.signal) for x, y in zip(items, again))
    with pytest.raises(KeyError):
        list(synthetic_dataset(1, ["nope"]))
