import json

import numpy as np
import pytest

from llava_ecg.signals import ECG, ECGReadError, STANDARD_LEADS, read_record, synthesize, write_wfdb
from llava_ecg.signals.header import parse_header, recorded_at
from llava_ecg.signals.leads import normalise_order


# ------------------------------------------------------------------ writer
def test_write_read_roundtrip_with_meta_and_nan(tmp_path):
    ecg = synthesize("afib", seed=2)
    ecg.signal[100:110, 4] = np.nan
    path = write_wfdb(ecg, tmp_path / "sub" / "rec_1")
    assert sorted(p.name for p in path.parent.iterdir()) == ["rec_1.dat", "rec_1.hea"]  # no temp leftovers
    back = read_record(path)
    assert back.leads == ecg.leads and back.fs == ecg.fs
    np.testing.assert_allclose(back.signal, ecg.signal, atol=0.5e-3 + 1e-7)  # 1 uV quantisation
    assert np.array_equal(np.isnan(back.signal), np.isnan(ecg.signal))
    assert {k: back.meta[k] for k in ecg.meta} == json.loads(json.dumps(ecg.meta))
    import wfdb  # the file is standard WFDB

    ref, fields = wfdb.rdsamp(str(path))
    assert fields["sig_name"] == list(STANDARD_LEADS)
    np.testing.assert_allclose(back.signal, ref, atol=1e-6)


def test_writer_rejects_out_of_range_and_bad_names(tmp_path):
    big = ECG(np.full((10, 1), 40.0), 500, ["I"])
    with pytest.raises(ValueError, match="exceeds"):
        write_wfdb(big, tmp_path / "big")
    with pytest.raises(ValueError, match="record names"):
        write_wfdb(synthesize("sinus", duration=1), tmp_path / "bad name")
    with pytest.raises(ValueError, match="format"):
        write_wfdb(synthesize("sinus", duration=1), tmp_path / "x", fmt="99")


def test_writer_format_212(tmp_path):
    ecg = synthesize("sinus", duration=2.0, seed=1)
    back = read_record(write_wfdb(ecg, tmp_path / "r212", fmt="212"))
    np.testing.assert_allclose(back.signal, ecg.signal, atol=2.6e-3)


# ------------------------------------------------------------------ header parser
def test_header_variants():
    h = parse_header("E00001.mat 12 500 5000 05-May-2020 14:50:55\n"
                     + "".join(f"E00001.mat 16+24 4880/mV 16 0 1 2 0 {n}\n" for n in STANDARD_LEADS)
                     + "#Age: NaN\n# Dx: 1,2\n")
    assert h.record_name == "E00001" and h.fs == 500 and h.n_samples == 5000
    assert h.base_date == "05-May-2020" and h.base_time == "14:50:55"
    s = h.signals[0]
    assert (s.fmt, s.byte_offset, s.gain, s.units, s.baseline) == ("16", 24, 4880.0, "mV", 0)
    assert h.comments == ["Age: NaN", "Dx: 1,2"]
    p = parse_header("s0010_re 2 1000 38400\ns0010_re.dat 16 2000 16 0 -489 -8337 0 i\n"
                     "s0010_re.xyz 16 2000(-12)/uV 16 3 0 0 0 vx\n")
    assert p.signals[0].units == "mV" and p.signals[0].name == "i" and p.signals[0].baseline == 0
    assert p.signals[1].baseline == -12 and p.signals[1].to_mv == 1e-3
    assert parse_header("r 1\nr.dat 16 0\n").signals[0].gain == 200.0  # uncalibrated default


@pytest.mark.parametrize("text,match", [
    ("", "no record line"), ("r\n", "record line"), ("r x 500\n", "signal count"),
    ("r 2 500 10\nr.dat 16\n", "only 1 signal"), ("r 1 -5 10\nr.dat 16\n", "positive"),
    ("r 1 500 10\nr.dat 16x\n", "format"), ("r 1 500 10\nr.dat 16 abc/mV\n", "gain"),
])
def test_header_errors(text, match):
    with pytest.raises(ECGReadError, match=match):
        parse_header(text, "bad.hea")


def test_recorded_at():
    assert recorded_at("22/09/2182", "12:04:00") == "2182-09-22 12:04:00"
    assert recorded_at("05-May-2020", None) == "2020-05-05"
    assert recorded_at("31/31/2000", None) is None and recorded_at(None, "1:00") is None


def test_lead_normalisation():
    idx, names = normalise_order(["I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6"])
    assert names == list(STANDARD_LEADS) and idx[4:6] == [5, 4]
    idx, names = normalise_order(["vx", "DI", "avr", "V1", "Lead II"])
    assert names == ["I", "II", "aVR", "V1", "vx"] and idx == [1, 4, 2, 3, 0]
    assert normalise_order(["vx", "I"], extra="drop") == ([1], ["I"])
    with pytest.raises(ValueError, match="twice"):
        normalise_order(["I", "i"])


# ------------------------------------------------------------------ ops
def test_resample_crop_window_strip():
    ecg = synthesize("sinus", fs=500, duration=10, seed=0)
    down = ecg.resample(250)
    assert down.signal.shape == (2500, 12) and down.fs == 250
    up = down.resample(500)
    # band-limited ECG survives a 2x round trip (QRS content is well below 125 Hz)
    assert np.sqrt(np.mean((up.signal[50:-50] - ecg.signal[50:-50]) ** 2)) < 0.02
    odd = ecg.resample(400)
    assert odd.signal.shape == (4000, 12)
    assert ecg.crop_or_pad(12).signal.shape == (6000, 12) and not ecg.crop_or_pad(12).signal[5000:].any()
    centred = ecg.crop_or_pad(8, align="center")
    np.testing.assert_array_equal(centred.signal, ecg.signal[500:4500])
    w = ecg.window(4, start=2)
    np.testing.assert_array_equal(w.signal, ecg.signal[1000:3000])
    assert w.meta["window_start"] == 2.0
    with pytest.raises(ValueError):
        ecg.window(4, start=8)
    padded = ECG(np.pad(ecg.signal, ((648, 648), (0, 0))), 500, ecg.leads)
    np.testing.assert_array_equal(padded.strip_zero_padding().signal, ecg.signal)
    sel = ecg.select_leads(["v1", "II"])
    assert sel.leads == ["V1", "II"] and np.array_equal(sel.signal[:, 1], ecg.lead("II"))


def test_resample_keeps_nan_positions():
    ecg = synthesize("sinus", duration=2, seed=0)
    ecg.signal[200:300, 3] = np.nan
    out = ecg.resample(250)
    assert np.isnan(out.signal[100:150, 3]).all() and np.isfinite(out.signal[:90]).all()
    assert np.isfinite(out.signal[:, [0, 1, 2, 4]]).all()


# ------------------------------------------------------------------ CLI
def test_cli_synth_and_info(tmp_path, capsys):
    from llava_ecg.cli import main

    assert main(["synth", "-o", str(tmp_path), "--n", "3", "--rhythms", "afib,sinus", "--duration", "2"]) == 0
    heads = sorted(tmp_path.glob("*.hea"))
    assert len(heads) == 3
    capsys.readouterr()
    assert main(["info", str(heads[0]), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["fs"] == 500 and info["samples"] == 1000 and info["meta"]["rhythm"] == "afib"
    assert main(["info", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # refused by the parser, with the known names
        main(["synth", "-o", str(tmp_path), "--rhythms", "nope"])
    assert exc.value.code == 2 and "unknown rhythm 'nope'; known:" in capsys.readouterr().err


def test_ops_reject_bad_rates_and_empty_lead_selections():
    ecg = synthesize("sinus", seed=3, duration=2.0)
    for fs in (float("nan"), float("inf"), 0.0):
        with pytest.raises(ValueError, match="positive finite"):
            ECG(ecg.signal, fs, ecg.leads)
        with pytest.raises(ValueError, match="positive finite"):
            ecg.resample(fs)
    with pytest.raises(ValueError, match="at least one lead"):
        ecg.select_leads([])
    one = ecg.select_leads("II")  # a single name, not its letters
    assert one.leads == ["II"] and np.array_equal(one.signal[:, 0], ecg.lead("II"))
    tiny = ECG(ecg.signal[:1], 500, ecg.leads).resample(100)
    assert tiny.n_samples == 1 and tiny.leads == ecg.leads
