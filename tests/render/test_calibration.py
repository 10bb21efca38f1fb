"""The calibration proof: draw known signals, read them back off the pixels, compare."""
import numpy as np
import pytest

from llava_ecg.render import STYLES, digitize, render_page
from llava_ecg.render.measure import ink_mask

from .conftest import synthetic_ecg, waveform_ecg


def _truth(ecg, trace):
    """What a column-centroid reader should see: the mid-range of the signal over each pixel column's time span
    (a steep QRS stroke fills its column from its minimum to its maximum)."""
    x = ecg.lead(trace.label).astype(np.float64)
    t = np.arange(ecg.n_samples) / ecg.fs
    half = np.median(np.diff(trace.t)) / 2
    a = np.searchsorted(t, trace.t - half)
    b = np.maximum(np.searchsorted(t, trace.t + half), a + 1)
    lin = np.interp(trace.t, t, x)
    lo = np.minimum(np.minimum.reduceat(x, np.minimum(a, len(x) - 1))[: len(a)], lin)
    hi = np.maximum(np.maximum.reduceat(x, np.minimum(a, len(x) - 1))[: len(a)], lin)
    return np.where(b - a > 1, (lo + hi) / 2, lin)


def _falling_edges(trace, level, high=0.9, low=-0.4):
    """Sub-pixel times where the trace falls through ``level`` from the high to the low plateau (linear
    interpolation between columns; a vertical stroke's own columns can wobble around ``level``)."""
    y = trace.mv - level
    i = np.flatnonzero((y[:-1] > 0) & (y[1:] <= 0))
    mv = trace.mv
    i = np.array([j for j in i if mv[max(0, j - 8): j + 1].max() > high and mv[j + 1: j + 9].min() < low], int)
    return trace.t[i] + (trace.t[i + 1] - trace.t[i]) * y[i] / (y[i] - y[i + 1])


@pytest.mark.parametrize("speed, gain, antialias, dpi, style", [
    (25.0, 10.0, True, 200, "classic"), (50.0, 5.0, True, 200, "classic"), (12.5, 20.0, True, 200, "classic"),
    (25.0, 10.0, False, 200, "classic"), (25.0, 10.0, True, 300, "classic"), (25.0, 20.0, True, 150, "classic"),
    (25.0, 10.0, True, 200, "eik"), (50.0, 5.0, True, 200, "eik"), (12.5, 20.0, True, 300, "eik"),
])
def test_square_wave_time_and_amplitude_scale(speed, gain, antialias, dpi, style):
    ecg = waveform_ecg("square", amplitude=1.0, duration=40.0)
    result = render_page(ecg, layout="rhythm", dpi=dpi, speed=speed, gain=gain, antialias=antialias, style=style)
    (trace,) = digitize(result.image, result.geometry)
    phase = trace.t % 1.0
    high = np.median(trace.mv[(phase > 0.1) & (phase < 0.4)])
    low = np.median(trace.mv[(phase > 0.6) & (phase < 0.9)])
    assert (high - low) == pytest.approx(1.5, rel=0.01)  # amplitude scale within 1 %
    edges = _falling_edges(trace, 0.25)
    assert len(edges) == pytest.approx(250 / speed, abs=1)  # one falling edge per second on the page
    slope, _ = np.polyfit(np.arange(len(edges)), edges, 1)
    assert slope == pytest.approx(1.0, rel=0.01)  # time scale within 1 %
    assert edges[0] == pytest.approx(0.5, abs=0.01)  # and no offset: the page starts at t = 0


@pytest.mark.parametrize("style", sorted(STYLES))
def test_sine_amplitude_and_every_panel_of_a_3x4(style):
    ecg = waveform_ecg("sine", amplitude=1.2)
    result = render_page(ecg, layout="3x4", dpi=200, style=style)
    traces = digitize(result.image, result.geometry)
    assert [t.label for t in traces] == ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6", "II"]
    for trace in traces:
        truth = _truth(ecg, trace)
        slope, offset = np.polyfit(truth, trace.mv, 1)
        assert slope == pytest.approx(1.0, rel=0.01), trace.label
        assert abs(offset) < 0.02
        assert np.corrcoef(truth, trace.mv)[0, 1] > 0.999


def test_columns_show_their_own_time_windows():
    ecg = waveform_ecg("sine")
    result = render_page(ecg, layout="3x4", dpi=100)
    windows = {(p.label, p.row): (p.t0, p.t1) for p in result.geometry.panels}
    assert windows[("I", 0)] == (0.0, 2.5)
    assert windows[("aVR", 0)] == (2.5, 5.0)
    assert windows[("V1", 0)] == (5.0, 7.5)
    assert windows[("V6", 2)] == (7.5, 10.0)
    assert windows[("II", 3)] == (0.0, 10.0)
    v4 = next(t for t in digitize(result.image, result.geometry) if t.label == "V4")
    assert v4.t.min() >= 7.5 - 0.01 and v4.t.max() <= 10.0 and v4.t.max() - v4.t.min() > 2.4


def test_rhythm_strip_of_a_realistic_ecg_correlates():
    ecg = synthetic_ecg(seed=4)
    result = render_page(ecg, layout="3x4", dpi=200)
    strip = digitize(result.image, result.geometry)[-1]
    assert strip.label == "II" and strip.t.max() - strip.t.min() > 9.9
    assert np.corrcoef(_truth(ecg, strip), strip.mv)[0, 1] > 0.99


@pytest.mark.parametrize("style", sorted(STYLES))
def test_calibration_pulse_is_one_millivolt_by_200_ms(style):
    ecg = waveform_ecg("sine", amplitude=0.0)
    result = render_page(ecg, layout="rhythm", dpi=300, labels=False, footer=False, style=style, grid="none")
    ink = ink_mask(np.asarray(result.image.convert("RGB")))
    ink[:3], ink[-3:], ink[:, :3], ink[:, -3:] = False, False, False, False  # a style's page frame
    k = result.geometry.px_per_mm
    rows = np.flatnonzero(ink.any(axis=1))
    top_line = rows[rows < rows.min() + 10]  # the pulse's top stroke, and the flat trace at its foot
    width = len(np.flatnonzero(ink[top_line].sum(axis=1) > 2 * k))  # rows of the 5 mm top stroke
    assert (rows.max() - rows.min() - width) == pytest.approx(10 * k, abs=3)  # 10 mm high, centre to centre
    top = np.flatnonzero(ink[rows.min() + width // 2])
    assert (top.max() - top.min() - width) == pytest.approx(5 * k, abs=3)  # 0.2 s at 25 mm/s = 5 mm wide


@pytest.mark.parametrize("dpi, min_corr", [(50, 0.85), (100, 0.95)])
def test_low_dpi_stays_legible(dpi, min_corr):
    ecg = synthetic_ecg(seed=4)
    result = render_page(ecg, layout="rhythm", dpi=dpi)
    (trace,) = digitize(result.image, result.geometry)
    assert np.corrcoef(_truth(ecg, trace), trace.mv)[0, 1] > min_corr
