"""Synthetic 12-lead ECGs with known ground truth.

Model: the heart is a single moving dipole. Every wave (P, septal q, R, terminal s, T, F/f waves) is a
Gaussian bump in time (T is skewed: slow upstroke, faster downstroke) along a fixed 3-D direction
(x = patient's left, y = feet, z = anterior). Leads I and II and V1–V6 are projections of the dipole on
lead vectors; III, aVR, aVL and aVF are *derived* from I and II exactly like an electrocardiograph does,
so Einthoven's and Goldberger's relations hold to float precision even after noise and baseline wander.

Ground truth in ``meta`` is what the generator used: heart rate from the actual RR intervals, PR from
P onset to QRS onset, QRS duration, QT from QRS onset to T end, Bazett QTc, and the frontal QRS axis
computed from the net QRS area in leads I and aVF of the noise-free dipole.

Rhythms are a registry (``RHYTHMS``); add one with ``@register_rhythm("name")``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np

from llava_ecg.registry import Registry

from .ecg import ECG, STANDARD_LEADS

__all__ = ["synthesize", "synthetic_dataset", "RHYTHMS", "Rhythm", "register_rhythm"]

# Precordial lead vectors in (x, y, z); angles in the horizontal plane measured from +x towards +z.
_PRECORDIAL_ANGLES = (120.0, 95.0, 75.0, 55.0, 30.0, 0.0)
_PRECORDIAL_GAIN = 1.3


def _lead_matrix() -> np.ndarray:
    """(3, 8) matrix mapping the dipole to the independent leads I, II, V1..V6."""
    cols = [np.array([1.0, 0.0, 0.0]), np.array([math.cos(math.radians(60)), math.sin(math.radians(60)), 0.0])]
    for angle in _PRECORDIAL_ANGLES:
        a = math.radians(angle)
        cols.append(_PRECORDIAL_GAIN * np.array([math.cos(a), 0.15, math.sin(a)]))
    return np.stack(cols, axis=1)


_LEADS_FROM_DIPOLE = _lead_matrix()


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _frontal(angle_deg: float, z: float = 0.0) -> np.ndarray:
    a = math.radians(angle_deg)
    return _unit([math.cos(a), math.sin(a), z])


@dataclass
class Beat:
    """One cardiac cycle: QRS onset time (s) and its morphology."""
    qrs_onset: float
    p_onset: float | None  # None: no P wave (AF, flutter, ventricular ectopic)
    ectopic: bool = False
    scale: float = 1.0


@dataclass
class RhythmPlan:
    beats: list[Beat]
    labels: list[str]
    codes: list[str]
    atrial: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None  # dipole (n, 3) of F/f waves
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Rhythm:
    name: str
    description: str
    hr_range: tuple[float, float]
    plan: Callable[..., RhythmPlan]


RHYTHMS: Registry[Rhythm] = Registry("rhythm")


def register_rhythm(name: str, description: str, hr_range: tuple[float, float]):
    def wrap(fn):
        RHYTHMS.register(name, Rhythm(name, description, hr_range, fn))
        return fn
    return wrap


def _sinus_beats(rng, duration, hr, pr, *, jitter=0.03) -> list[Beat]:
    """Regular sinus beats with mild respiratory RR modulation, first beat at a random phase."""
    rr = 60.0 / hr
    t = rng.uniform(0.15, 0.15 + rr) + pr
    beats = []
    resp = rng.uniform(0.2, 0.3)
    phase = rng.uniform(0, 2 * math.pi)
    while t < duration + 1.0:
        beats.append(Beat(qrs_onset=t, p_onset=t - pr))
        t += rr * (1.0 + jitter * math.sin(2 * math.pi * resp * t + phase))
    return beats


@register_rhythm("sinus", "normal sinus rhythm", (60, 100))
def _plan_sinus(rng, duration, p):
    return RhythmPlan(_sinus_beats(rng, duration, p["hr"], p["pr"] / 1000), ["sinus rhythm"], ["SR"])


@register_rhythm("sinus_brady", "sinus bradycardia", (40, 59))
def _plan_brady(rng, duration, p):
    return RhythmPlan(_sinus_beats(rng, duration, p["hr"], p["pr"] / 1000), ["sinus bradycardia"], ["SBRAD"])


@register_rhythm("sinus_tachy", "sinus tachycardia", (101, 150))
def _plan_tachy(rng, duration, p):
    return RhythmPlan(_sinus_beats(rng, duration, p["hr"], p["pr"] / 1000, jitter=0.01),
                      ["sinus tachycardia"], ["STACH"])


@register_rhythm("avb1", "sinus rhythm with first degree AV block (PR > 200 ms)", (55, 95))
def _plan_avb1(rng, duration, p):
    return RhythmPlan(_sinus_beats(rng, duration, p["hr"], p["pr"] / 1000),
                      ["sinus rhythm", "first degree AV block"], ["SR", "1AVB"])


@register_rhythm("pvc", "sinus rhythm with premature ventricular contractions", (60, 95))
def _plan_pvc(rng, duration, p):
    rr = 60.0 / p["hr"]
    pr = p["pr"] / 1000
    beats = _sinus_beats(rng, duration, p["hr"], pr, jitter=0.0)
    n_pvc = int(rng.integers(1, 4))
    candidates = list(range(1, max(2, len(beats) - 2), 2))
    chosen = sorted(rng.choice(candidates, size=min(n_pvc, len(candidates)), replace=False).tolist())
    out: list[Beat] = []
    for i, beat in enumerate(beats):
        if i in chosen:
            # premature wide beat without P, then a full compensatory pause (sinus node not reset)
            coupling = rng.uniform(0.55, 0.7) * rr
            out.append(Beat(qrs_onset=beats[i - 1].qrs_onset + coupling, p_onset=None, ectopic=True))
        else:
            out.append(beat)
    return RhythmPlan(out, ["sinus rhythm", "premature ventricular contractions"], ["SR", "PVC"],
                      extra={"n_pvc": len(chosen)})


@register_rhythm("afib", "atrial fibrillation: irregularly irregular RR, no P waves, f waves", (60, 140))
def _plan_afib(rng, duration, p):
    mean_rr = 60.0 / p["hr"]
    beats, t = [], rng.uniform(0.1, 0.6)
    while t < duration + 1.0:
        beats.append(Beat(qrs_onset=t, p_onset=None))
        # gamma-distributed RR: irregularly irregular, coefficient of variation ~0.25
        rr = rng.gamma(16.0, mean_rr / 16.0)
        t += float(np.clip(rr, 0.33, 2.0))
    f_hz = rng.uniform(5.0, 8.0)
    amp = rng.uniform(0.04, 0.09)

    def fibrillation(tt, r):
        direction = _unit([0.3, 0.5, 0.8])
        dt = float(tt[1] - tt[0]) if tt.size > 1 else 0.002
        phase = np.cumsum(np.full_like(tt, 2 * math.pi * f_hz * dt))
        phase += np.cumsum(r.normal(0, 0.08, tt.size))  # drifting, non-repeating waveform
        env = 1.0 + 0.4 * np.sin(2 * math.pi * 0.3 * tt + r.uniform(0, 6.3))
        wave = amp * env * (np.sin(phase) + 0.4 * np.sin(1.7 * phase + 1.0))
        return wave[:, None] * direction[None, :]

    return RhythmPlan(beats, ["atrial fibrillation"], ["AFIB"], atrial=fibrillation)


@register_rhythm("aflutter", "atrial flutter: sawtooth F waves ~300/min, fixed 2:1 to 4:1 conduction", (70, 160))
def _plan_aflutter(rng, duration, p):
    ratio = int(p.get("conduction", 0) or (2 if p["hr"] >= 120 else 4 if p["hr"] < 85 else 3))
    f_rate = p["hr"] * ratio
    f_rate = float(np.clip(f_rate, 240, 340))
    f_period = 60.0 / f_rate
    t0 = rng.uniform(0, f_period)
    beats, k = [], 0
    while True:
        t = t0 + k * ratio * f_period + 0.2
        if t > duration + 1.0:
            break
        beats.append(Beat(qrs_onset=t, p_onset=None))
        k += 1
    amp = rng.uniform(0.22, 0.32)

    def flutter(tt, r):
        # negative sawtooth in the inferior leads: slow descent, quick return; axis superior + anterior
        direction = _unit([0.1, -0.9, 0.45])
        phase = ((tt - t0) / f_period) % 1.0
        saw = np.where(phase < 0.75, phase / 0.75, (1.0 - phase) / 0.25)
        return (amp * (saw - 0.5))[:, None] * direction[None, :]

    plan = RhythmPlan(beats, ["atrial flutter"], ["AFLT"], atrial=flutter, extra={"conduction": f"{ratio}:1"})
    plan.extra["atrial_rate"] = round(f_rate)
    return plan


_DEFAULTS_BY_RHYTHM = {
    "avb1": {"pr": (220.0, 320.0)},
    "sinus_tachy": {"pr": (120.0, 160.0)},
}

_KNOWN_OVERRIDES = {"hr", "pr", "qrs", "qtc", "axis", "age", "sex", "noise", "wander", "amplitude", "id",
                    "conduction", "powerline"}


def _draw_params(rhythm: Rhythm, rng: np.random.Generator, overrides: dict) -> dict:
    unknown = set(overrides) - _KNOWN_OVERRIDES
    if unknown:
        raise TypeError(f"synthesize() got unknown overrides {sorted(unknown)}; known: {sorted(_KNOWN_OVERRIDES)}")
    lo, hi = rhythm.hr_range
    spec = _DEFAULTS_BY_RHYTHM.get(rhythm.name, {})
    p = {
        "hr": rng.uniform(lo, hi),
        "pr": rng.uniform(*spec.get("pr", (130.0, 190.0))),
        "qrs": rng.uniform(80.0, 105.0),
        "qtc": rng.uniform(390.0, 440.0),
        "axis": rng.uniform(-20.0, 80.0),
        "age": int(rng.integers(20, 90)),
        "sex": str(rng.choice(["male", "female"])),
        "noise": rng.uniform(0.005, 0.02),
        "wander": rng.uniform(0.02, 0.12),
        "amplitude": rng.uniform(0.8, 1.2),
        "powerline": 0.0,
    }
    p.update({k: v for k, v in overrides.items() if v is not None})
    return p


def _gauss(t: np.ndarray, centre: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((t - centre) / sigma) ** 2)


def _add(dipole, t, fs, centre, sigma, vector, sigma_after=None):
    """Add a (possibly skewed) Gaussian wave along ``vector`` in a +-5 sigma window."""
    s_after = sigma_after or sigma
    i0 = max(0, int((centre - 5 * sigma) * fs))
    i1 = min(t.size, int((centre + 5 * s_after) * fs) + 2)
    if i1 <= i0:
        return
    tt = t[i0:i1]
    shape = np.where(tt < centre, _gauss(tt, centre, sigma), _gauss(tt, centre, s_after))
    dipole[i0:i1] += shape[:, None] * vector[None, :]


class _Morphology:
    """Wave vectors and timing of one patient's beats (fixed for the recording)."""

    def __init__(self, p: dict, rng: np.random.Generator):
        amp = p["amplitude"]
        axis = float(p["axis"])
        self.qrs = p["qrs"] / 1000.0
        self.p_vec = 0.15 * amp * _frontal(rng.uniform(45, 65), 0.1)
        self.p_dur = rng.uniform(0.08, 0.11)
        # QRS = septal (right, anterior) + main (along the axis, slightly posterior) + terminal (superior, posterior)
        self.q_vec = 0.18 * amp * _unit([-0.5, 0.2, 0.8])
        self.r_vec = 1.3 * amp * _frontal(axis, -0.15)
        self.s_vec = 0.35 * amp * _unit([-0.3, -0.6, -0.7])
        t_axis = axis - rng.uniform(0, 25)
        self.t_vec = 0.32 * amp * _frontal(t_axis, 0.35)
        self.pvc_axis = rng.uniform(-80, -30)
        self.pvc_qrs = rng.uniform(0.14, 0.18)

    def qrs_components(self, ectopic: bool):
        """(centre offset from QRS onset, sigma, vector) triples."""
        if ectopic:
            d = self.pvc_qrs
            main = 1.8 * np.linalg.norm(self.r_vec) * _frontal(self.pvc_axis, 0.5)
            return [(0.35 * d, 0.13 * d, main), (0.75 * d, 0.1 * d, -0.3 * main)]
        d = self.qrs
        return [(0.15 * d, 0.07 * d, self.q_vec), (0.45 * d, 0.1 * d, self.r_vec), (0.78 * d, 0.08 * d, self.s_vec)]


def _qrs_axis(morph: _Morphology) -> float:
    """Frontal QRS axis from the net area of the normal QRS in leads I and aVF."""
    area = sum(sigma * vec for _, sigma, vec in morph.qrs_components(False))
    lead_i = area[0]
    lead_ii = area[0] * 0.5 + area[1] * math.sqrt(3) / 2
    avf = lead_ii - lead_i / 2
    return math.degrees(math.atan2(avf, lead_i))


def synthesize(rhythm: str = "sinus", *, fs: float = 500, duration: float = 10.0, seed: int = 0, **overrides) -> ECG:
    """A realistic synthetic 12-lead ECG with ground truth in ``meta``.

    ``overrides`` fix parameters that are otherwise drawn from the rhythm's ranges: ``hr`` (bpm), ``pr``,
    ``qrs``, ``qtc`` (ms), ``axis`` (deg, orientation of the main QRS vector), ``age``, ``sex``, ``noise``
    (mV rms), ``wander`` (mV), ``amplitude`` (scale), ``powerline`` (mV of 50 Hz), ``id``, ``conduction``
    (flutter ratio).
    """
    if fs <= 0 or duration <= 0:
        raise ValueError(f"fs and duration must be positive, got fs={fs}, duration={duration}")
    spec = RHYTHMS[rhythm]
    rng = np.random.default_rng([int(seed), sum(map(ord, rhythm))])
    p = _draw_params(spec, rng, overrides)
    plan = spec.plan(rng, duration, p)
    morph = _Morphology(p, rng)

    n = int(round(duration * fs))
    t = np.arange(n) / fs
    dipole = np.zeros((n, 3))
    rr_mean = 60.0 / p["hr"]
    qt = p["qtc"] / 1000.0 * math.sqrt(rr_mean)
    t_after = rng.uniform(0.035, 0.045)
    t_before = 1.6 * t_after
    t_peak = qt - 3.0 * t_after  # T end = peak + 3 sigma_after (where the wave is ~1% of its peak)
    for beat in plan.beats:
        scale = beat.scale * (1.0 + 0.03 * rng.standard_normal()) * (1 + 0.05 * math.sin(2 * math.pi * 0.25 * beat.qrs_onset))
        if beat.p_onset is not None:
            _add(dipole, t, fs, beat.p_onset + morph.p_dur / 2, morph.p_dur / 5, scale * morph.p_vec)
        for offset, sigma, vec in morph.qrs_components(beat.ectopic):
            _add(dipole, t, fs, beat.qrs_onset + offset, sigma, scale * vec)
        if beat.ectopic:
            main = morph.qrs_components(True)[0][2]
            _add(dipole, t, fs, beat.qrs_onset + morph.pvc_qrs + 0.12, 0.07, -0.35 * main / np.linalg.norm(main) * 1.0,
                 sigma_after=0.05)
        else:
            _add(dipole, t, fs, beat.qrs_onset + t_peak, t_before, scale * morph.t_vec, sigma_after=t_after)
    if plan.atrial is not None:
        dipole += plan.atrial(t, rng)

    independent = dipole @ _LEADS_FROM_DIPOLE  # (n, 8): I, II, V1..V6
    # electrode-level artefacts on the independent leads only, so the derived leads stay exact
    wander = np.zeros_like(independent)
    for _ in range(2):
        f = rng.uniform(0.1, 0.45)
        wander += np.sin(2 * math.pi * f * t[:, None] + rng.uniform(0, 2 * math.pi, 8)[None, :]) * \
            rng.uniform(0.3, 1.0, 8)[None, :]
    independent += p["wander"] * wander / 2
    independent += rng.normal(0.0, p["noise"], independent.shape)
    if p["powerline"]:
        independent += p["powerline"] * np.sin(2 * math.pi * 50 * t)[:, None]

    lead_i, lead_ii = independent[:, 0], independent[:, 1]
    limb = np.stack([lead_i, lead_ii, lead_ii - lead_i, -(lead_i + lead_ii) / 2, lead_i - lead_ii / 2,
                     lead_ii - lead_i / 2], axis=1)
    signal = np.concatenate([limb, independent[:, 2:]], axis=1).astype(np.float32)

    rr = np.diff([b.qrs_onset for b in plan.beats if b.qrs_onset < duration])
    hr = 60.0 / float(np.mean(rr)) if rr.size else float(p["hr"])
    has_p = any(b.p_onset is not None for b in plan.beats)
    meta = {
        "id": str(p.get("id") or f"synth-{rhythm}-{int(seed)}"),
        "source": "synthetic",
        "rhythm": rhythm,
        "labels": list(plan.labels),
        "label_codes": list(plan.codes),
        "hr": round(hr, 1),
        "pr": round(float(p["pr"])) if has_p else None,
        "qrs": round(float(p["qrs"])),
        "qt": round(qt * 1000),
        "qtc": round(float(p["qtc"])),
        "axis": round(_qrs_axis(morph)),
        "age": int(p["age"]),
        "sex": str(p["sex"]),
        "beats": [round(b.qrs_onset, 4) for b in plan.beats if 0 <= b.qrs_onset < duration],
    }
    meta.update(plan.extra)
    return ECG(signal=signal, fs=float(fs), leads=list(STANDARD_LEADS), meta=meta)


def synthetic_dataset(n: int, rhythms: Iterable[str] | None = None, seed: int = 0, **kwargs) -> Iterator[ECG]:
    """``n`` synthetic ECGs cycling through ``rhythms`` (default: all registered), deterministic in ``seed``."""
    names = list(rhythms) if rhythms is not None else sorted(RHYTHMS)
    if not names:
        raise ValueError("synthetic_dataset needs at least one rhythm")
    for name in names:
        RHYTHMS.canonical(name)  # unknown names fail before any record is written
    for i in range(n):
        name = names[i % len(names)]
        yield synthesize(name, seed=seed * 1_000_003 + i, id=f"synth{seed:03d}_{i:06d}", **kwargs)
