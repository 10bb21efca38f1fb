import hashlib

import numpy as np
import pytest

from llava_ecg.render import LAYOUTS, GRIDS, RenderError, digitize, encode, render, render_page, render_rgb
from llava_ecg.render.header import header_lines
from llava_ecg.signals.ecg import ECG

from .conftest import synthetic_ecg, waveform_ecg

LAYOUT_NAMES = ["3x4", "3x4-no-rhythm", "3x4-3rhythm", "6x2", "12x1", "rhythm"]


def _digest(image) -> str:
    return hashlib.sha256(encode(image)).hexdigest()


def test_same_seed_same_bytes_different_seed_differs(sinus):
    a = render(sinus, distort="heavy", seed=11, dpi=60)
    b = render(sinus, distort="heavy", seed=11, dpi=60)
    c = render(sinus, distort="heavy", seed=12, dpi=60)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)
    assert _digest(render(sinus, dpi=60)) == _digest(render(sinus, dpi=60))


def test_the_layout_registry_has_the_issue_layouts():
    assert set(LAYOUT_NAMES) <= set(LAYOUTS)
    assert LAYOUTS["1x1"] is LAYOUTS["rhythm"]


@pytest.fixture(scope="module")
def records():
    """Sampling rates and durations from the issue; the realistic generator at 100..1000 Hz."""
    out = {f"{fs}Hz": synthetic_ecg(fs=fs, seed=fs) for fs in (100, 257, 400, 500, 1000)}
    out["7s"] = synthetic_ecg(duration=7.0, seed=7)
    out["38s"] = synthetic_ecg(duration=38.0, seed=38, fs=250)
    return out


@pytest.mark.parametrize("preset", ["none", "light", "heavy"])
@pytest.mark.parametrize("layout", LAYOUT_NAMES)
def test_every_layout_and_preset_renders_every_record(records, layout, preset):
    for name, ecg in records.items():
        result = render_page(ecg, layout=layout, distort=preset, seed=3, dpi=40)
        image = result.image
        assert image.mode == ("P" if preset == "none" else "RGB"), name
        assert image.width > 50 and image.height > 20
        gray = np.asarray(image.convert("L"))
        assert (gray < 110).mean() > 0.002, f"{layout}/{preset}/{name}: no visible trace"
        assert sum(p.drawn for p in result.geometry.panels) >= 1


@pytest.mark.parametrize("layout", ["3x4", "6x2", "12x1"])
def test_full_resolution_pages(sinus, layout):
    result = render_page(sinus, layout=layout)
    assert result.image.size == (2200, 1700)  # letter landscape at 200 dpi
    assert all(p.drawn for p in result.geometry.panels)
    assert render_page(sinus, layout=layout, paper="a4").image.size == (2339, 1654)


def test_short_record_leaves_later_columns_blank():
    ecg = waveform_ecg("sine", duration=7.0)
    result = render_page(ecg, layout="3x4", dpi=100)
    drawn = {(p.label, p.t0): p.drawn for p in result.geometry.panels}
    assert drawn[("V1", 5.0)] and not drawn[("V4", 7.5)]
    strip = digitize(result.image, result.geometry)[-1]
    assert 6.9 < strip.t.max() < 7.05


def test_long_record_pages_by_start():
    ecg = waveform_ecg("sine", duration=38.0)
    result = render_page(ecg, layout="rhythm", dpi=100, start=30.0)
    (trace,) = digitize(result.image, result.geometry)
    assert trace.t.min() == pytest.approx(30.0, abs=0.05) and trace.t.max() == pytest.approx(38.0, abs=0.05)
    with pytest.raises(RenderError, match="past the record's end"):
        render(ecg, start=38.0)


def test_speed_changes_the_time_per_page():
    ecg = waveform_ecg("sine", duration=60.0)
    assert render_page(ecg, layout="3x4", speed=50.0, dpi=40).geometry.panels[3].t1 == pytest.approx(2.5)
    assert render_page(ecg, layout="rhythm", speed=5.0, dpi=40).geometry.panels[0].t1 == pytest.approx(50.0)


def test_missing_leads_leave_blank_panels_and_strip_falls_back():
    t = np.arange(5000) / 500
    only_v2 = ECG(np.sin(2 * np.pi * t)[:, None], 500, ["V2"], {"id": "one-lead"})
    result = render_page(only_v2, layout="3x4", dpi=60)
    drawn = [p.label for p in result.geometry.panels if p.drawn]
    assert drawn == ["V2", "V2"]  # its own panel, and the rhythm strip falls back to the only lead
    assert render_page(only_v2, layout="rhythm", dpi=60).geometry.panels[0].label == "V2"
    odd = ECG(np.sin(2 * np.pi * t)[:, None], 500, ["ECG1"], {"id": "odd"})
    assert render_page(odd, layout="rhythm", dpi=60).geometry.panels[0].drawn
    with pytest.raises(RenderError, match="none of the leads"):
        render(odd, layout="12x1", dpi=60)


def test_nan_runs_become_gaps():
    ecg = waveform_ecg("sine")
    ecg.signal[1000:2000, :] = np.nan  # 2-4 s missing
    result = render_page(ecg, layout="rhythm", dpi=100)
    (trace,) = digitize(result.image, result.geometry)
    assert not ((trace.t > 2.1) & (trace.t < 3.9)).any()
    assert (trace.t < 1.9).any() and (trace.t > 4.1).any()


@pytest.mark.parametrize("signal, message", [
    (np.zeros((0, 12), np.float32), "empty signal"),
    (np.full((5000, 12), np.nan, np.float32), "no finite samples"),
])
def test_bad_signals_raise_render_error(signal, message):
    ecg = ECG(signal, 500, list(waveform_ecg().leads), {"id": "bad"})
    with pytest.raises(RenderError, match=f"bad: .*{message}"):
        render(ecg)


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_grid_colours(sinus, grid):
    image = render(sinus, grid=grid, dpi=100).convert("RGB")
    pixels = np.asarray(image).reshape(-1, 3)
    coloured = (pixels.max(1) - pixels.min(1)) > 20
    if grid in ("red", "pink", "green", "blue", "brown"):
        assert coloured.mean() > 0.05
    else:
        assert coloured.mean() == 0
    if grid == "none":
        assert (pixels.min(1) > 200).mean() > 0.97  # white paper and the trace only


def test_grid_dropout_draws_no_grid(sinus):
    result = render_page(sinus, dpi=60, distort={"transforms": [{"type": "grid_dropout", "p": 1.0}]})
    pixels = np.asarray(result.image).reshape(-1, 3)
    assert ((pixels.max(1) - pixels.min(1)) > 20).mean() == 0


def test_header_is_optional_and_prints_meta(sinus):
    band = slice(0, int(16 / 25.4 * 100))  # the header band: rows start below it when the header is on
    with_header = np.asarray(render(sinus, dpi=100, header=True).convert("L"))[band]
    no_meta = ECG(sinus.signal, sinus.fs, sinus.leads, {})
    empty_header = np.asarray(render(no_meta, dpi=100, header=True).convert("L"))[band]
    assert (with_header < 100).sum() > 500
    assert (empty_header < 100).sum() == 0
    assert render(sinus, dpi=100).size == render(sinus, dpi=100, header=True).size
    lines = header_lines(sinus.meta)
    assert lines[0].startswith("ID: ") and "Sex: " in lines[1] and "QTc: " in lines[2]
    assert header_lines({"age": 50, "sex": "male", "hr": 71.6, "qrs": None}) == ["Age: 50    Sex: M", "HR: 72 bpm"]
    # the date key each reader sets: WFDB/Challenge `recorded_at`, MIMIC `ecg_time`
    assert header_lines({"id": "E00001", "recorded_at": "2020-05-05 14:50:55"}) == ["ID: E00001    Date: 2020-05-05 14:50:55"]
    assert header_lines({"ecg_time": "2180-07-23 08:44:00"}) == ["Date: 2180-07-23 08:44:00"]


def test_rhythm_layout_is_small_at_low_dpi(sinus):
    image = render(sinus, layout="rhythm", dpi=24)
    assert image.size[0] <= 270 and image.size[1] <= 64


@pytest.mark.parametrize("distort", ["none", "light"])
def test_render_rgb_is_the_page_as_an_rgb_array(sinus, distort):
    """What an on-the-fly training loader takes instead of the PIL page: the same pixels."""
    rgb = render_rgb(sinus, layout="3x4", distort=distort, seed=4, dpi=100)
    image = render(sinus, layout="3x4", distort=distort, seed=4, dpi=100)
    assert rgb.dtype == np.uint8 and rgb.shape == (image.height, image.width, 3)
    assert np.array_equal(rgb, np.asarray(image.convert("RGB")))
