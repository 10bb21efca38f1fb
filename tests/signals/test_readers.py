import numpy as np
import pytest

from llava_ecg.signals import ECGReadError, STANDARD_LEADS, read_record, detect_source
from llava_ecg.signals.code15 import Code15File
from llava_ecg.signals.ptbxl import PTBXLIndex, ptbxl_record_path, split_of_fold
from tests.support import mini_datasets as mini


def expected_mv(name, n, gain, fs=500.0):
    return mini.digital_signal(name, n, gain, fs=fs).astype(np.float64) / gain


# ------------------------------------------------------------------ PTB-XL
@pytest.mark.parametrize("ecg_id,expected", [(1, "records500/00000/00001_hr"), (999, "records500/00000/00999_hr"),
                                             (1000, "records500/01000/01000_hr"), (21837, "records500/21000/21837_hr")])
def test_ptbxl_folder_math(ecg_id, expected):
    assert ptbxl_record_path(ecg_id) == expected
    assert ptbxl_record_path(ecg_id, 100) == expected.replace("records500", "records100").replace("_hr", "_lr")


@pytest.mark.parametrize("ecg_id", mini.PTBXL_IDS)
@pytest.mark.parametrize("fs", [100, 500])
def test_ptbxl_values_and_leads(datasets, ecg_id, fs):
    path = datasets["ptbxl"] / ptbxl_record_path(ecg_id, fs)
    assert detect_source(path) == "ptbxl"
    ecg = read_record(path)
    assert ecg.fs == fs and ecg.leads == list(STANDARD_LEADS)
    np.testing.assert_allclose(ecg.signal, expected_mv(path.name, 10 * fs, 1000.0, fs), atol=1e-4)
    assert ecg.meta["ecg_id"] == ecg_id and ecg.meta["source"] == "ptbxl"


def test_ptbxl_meta(datasets):
    root = datasets["ptbxl"]
    m = {i: read_record(root / ptbxl_record_path(i)).meta for i in mini.PTBXL_IDS}
    assert m[1]["labels"] == ["NORM"] and m[1]["form"] == ["LVOLT"] and m[1]["rhythm"] == ["SR"]
    assert m[1]["sex"] == "female" and m[1]["age"] == 56 and m[1]["split"] == "train"
    assert m[999]["superclasses"] == ["MI", "STTC"] and m[999]["subclasses"] == ["AMI", "IMI", "ISCA"]
    assert "unbestÄtigter" in m[999]["report"] and m[999]["split"] == "test" and m[999]["heart_axis"] == "LAD"
    assert m[999]["infarction_stadium1"] == "Stadium II"
    # likelihood 15 / 35 still counts (official aggregation); LAO/LAE with a slash
    assert m[1000]["superclasses"] == ["STTC", "HYP"] and m[1000]["split"] == "val"
    assert m[1000]["report"].startswith("fÖrmaksflimmer") and m[1000]["age"] == 90
    assert m[1000]["scp_codes"] == {"AFIB": 0.0, "PVC": 0.0, "LAO/LAE": 35.0, "NDT": 15.0}
    assert m[1000]["rhythm"] == ["AFIB"] and set(m[1000]["form"]) == {"PVC", "NDT"}
    assert m[21837]["labels"] == [] and m[21837]["superclasses"] == []


def test_ptbxl_index_splits(datasets):
    index = PTBXLIndex(datasets["ptbxl"])
    assert index.ids("test") == [999, 21837] and index.ids("val") == [1000] and index.ids("train") == [1, 2]
    assert [split_of_fold(f) for f in (1, 8, 9, 10, None)] == ["train", "train", "val", "test", None]


def test_ptbxl_bad_scp_codes(tmp_path):
    root = mini.make_ptbxl(tmp_path / "p", ids=(5,))
    text = (root / "ptbxl_database.csv").read_text().replace("{'NORM': 100.0, 'SR': 0.0}", "{'NORM': 100.0")
    (root / "ptbxl_database.csv").write_text(text)
    with pytest.raises(ECGReadError, match="scp_codes"):
        read_record(root / ptbxl_record_path(5))


# ------------------------------------------------------------------ MIMIC-IV-ECG
def test_mimic_lead_order_values_and_meta(datasets):
    root = datasets["mimic"]
    path = root / "files/p1000/p10000032/s40689238/40689238"
    assert detect_source(path) == "mimic"
    ecg = read_record(path)
    assert ecg.leads == list(STANDARD_LEADS)  # aVF-before-aVL file order normalised
    np.testing.assert_allclose(ecg.signal, expected_mv("40689238", 5000, 200.0), atol=1e-4)
    m = ecg.meta
    assert m["subject_id"] == 10000032 and m["study_id"] == 40689238
    assert m["recorded_at"] == "2182-09-22 12:04:00"
    assert m["report"] == "Sinus rhythm. Normal ECG." and m["labels"] == ["Sinus rhythm", "Normal ECG"]
    assert (m["hr"], m["pr"], m["qrs"], m["qt"], m["axis"]) == (75.0, 160, 90, 400, -15)
    assert m["qtc"] == round(400 / np.sqrt(0.8))


def test_mimic_sentinels_and_nan(datasets):
    root = datasets["mimic"]
    m = read_record(root / "files/p1000/p10000032/s45106466/45106466").meta
    assert m["p_onset"] is None and m["p_axis"] is None and m["pr"] is None  # 29999 sentinel
    assert m["qrs"] == 152 and m["report_statements"][-1] == "Abnormal ECG"
    nan_ecg = read_record(root / "files/p1217/p12177274/s41234567/41234567")
    mask = mini.mimic_nan_mask(5000)
    assert np.array_equal(np.isnan(nan_ecg.signal), mask)
    np.testing.assert_allclose(nan_ecg.signal[~mask], expected_mv("41234567", 5000, 200.0)[~mask], atol=1e-4)
    assert nan_ecg.meta["subject_id"] == 12177274
    assert nan_ecg.meta["hr"] is None and nan_ecg.meta["report"] is None  # blank measurements row


# ------------------------------------------------------------------ CODE-15%
@pytest.mark.parametrize("part,exam_id,seconds,labels", mini.CODE15_EXAMS)
def test_code15_exam(datasets, part, exam_id, seconds, labels):
    ref = f"{datasets['code15']}/exams_part{part}.hdf5::{exam_id}"
    ecg = read_record(ref)
    assert ecg.fs == 400 and ecg.leads == list(STANDARD_LEADS)
    assert ecg.signal.shape == (seconds * 400, 12)
    np.testing.assert_allclose(ecg.signal, mini.code15_signal(exam_id, seconds), atol=1e-6)
    pad = (4096 - seconds * 400) // 2
    assert ecg.meta["padding"] == [pad, pad] and pad in (648, 48)
    assert ecg.meta["labels"] == list(labels) and ecg.meta["normal_ecg"] == (not labels)
    assert ecg.meta["exam_id"] == exam_id and ecg.id == str(exam_id)
    padded = read_record(ref, strip_padding=False)
    assert padded.signal.shape == (4096, 12) and not padded.signal[:pad].any()


def test_code15_reads_one_row_only(datasets, monkeypatch):
    spans = []
    original = Code15File.read_rows

    def spy(self, start, stop):
        spans.append(stop - start)
        return original(self, start, stop)

    monkeypatch.setattr(Code15File, "read_rows", spy)
    read_record(f"{datasets['code15']}/exams_part0.hdf5::777777")
    assert spans == [1]


def test_code15_dummy_row_and_unknown_exam(datasets):
    base = datasets["code15"] / "exams_part0.hdf5"
    with pytest.raises(ECGReadError, match="dummy"):
        read_record(f"{base}::0")
    with pytest.raises(ECGReadError, match="not in this file"):
        read_record(f"{base}::123")
    with pytest.raises(ECGReadError, match="EXAM_ID"):
        read_record(base)


# ------------------------------------------------------------------ Challenge
@pytest.mark.parametrize("name,fs,seconds,gain,dx,age,sex,quirk", mini.CHALLENGE_RECORDS)
def test_challenge_records(datasets, name, fs, seconds, gain, dx, age, sex, quirk):
    root = datasets["challenge"]
    for path in (root / name, root / f"{name}.hea", root / f"{name}.mat"):
        ecg = read_record(path)
        assert ecg.fs == fs and ecg.signal.shape == (fs * seconds, 12)
        np.testing.assert_allclose(ecg.signal, expected_mv(name, fs * seconds, float(gain), fs), atol=1e-4)
    m = ecg.meta
    assert m["source"] == "challenge" and m["snomed"] == dx.split(",")
    assert m["age"] == (int(age) if age.isdigit() else None) and m["sex"] == sex.lower()
    assert m["id"] == name  # Georgia's "E00001.mat" record name is accepted and cleaned


def test_challenge_label_maps(datasets):
    root = datasets["challenge"]
    cpsc = read_record(root / "A0002").meta
    assert cpsc["cpsc_labels"] == ["PVC", "STD"] and cpsc["database"] == "cpsc"
    g = read_record(root / "E00001").meta
    assert g["labels"] == ["AF", "IAVB"] and g["options"][1] == "IAVB(1st degree av block)"
    assert g["cpsc_labels"] == ["AF", "I-AVB"] and g["database"] == "georgia"
    assert read_record(root / "A0001").meta["cpsc_labels"] == ["RBBB"]


def test_challenge_bad_dx(tmp_path):
    root = mini.make_challenge(tmp_path / "c", records=(mini.CHALLENGE_RECORDS[0],))
    hea = root / "A0001.hea"
    hea.write_text(hea.read_text().replace("Dx: 59118001", "Dx: RBBB?"))
    with pytest.raises(ECGReadError, match="Dx"):
        read_record(hea)


# ------------------------------------------------------------------ ECG-QA
def test_ecgqa(datasets):
    from llava_ecg.signals import iter_ecgqa
    from llava_ecg.signals.ecgqa import load_split_ecg_ids, load_template_answers

    items = list(iter_ecgqa(datasets["ecgqa"], dataset="ptbxl", split="test"))
    assert len(items) == 4 and all(isinstance(q["answer"], list) for q in items)
    comparison = items[-1]
    assert comparison["attribute"] is None and comparison["ecg_paths"] == [
        "records500/00000/00001_hr", "records500/21000/21837_hr"]
    for q in items:  # every linked record exists in the PTB-XL fixture
        for rel in q["ecg_paths"]:
            assert (datasets["ptbxl"] / f"{rel}.hea").is_file()
    from llava_ecg.signals import MimicIndex

    ids = {e for q in iter_ecgqa(datasets["ecgqa"], dataset="mimic") for e in q["ecg_id"]}
    paths = MimicIndex(datasets["mimic"]).paths_for(ids)
    mimic_q = list(iter_ecgqa(datasets["ecgqa"], dataset="mimic", mimic_paths=paths))
    assert mimic_q[1]["source"] == "mimic" and mimic_q[1]["attribute"] is None
    assert mimic_q[1]["ecg_paths"] == ["files/p1000/p10000032/s40689238/40689238",
                                       "files/p1000/p10000032/s45106466/45106466"]
    assert read_record(datasets["mimic"] / mimic_q[0]["ecg_paths"][0]).meta["study_id"] == 45106466
    base = datasets["ecgqa"] / "ecgqa" / "ptbxl"
    assert load_template_answers(base / "answers_for_each_template.csv")[1] == ["no", "not sure", "yes"]
    assert load_split_ecg_ids(base / "test_ecgs.tsv") == [1000, 999, 1, 21837]


# ------------------------------------------------------------------ dispatch
def test_source_override_and_unknown(datasets):
    ecg = read_record(datasets["challenge"] / "E00001", source="georgia")
    assert ecg.meta["source"] == "challenge"
    generic = read_record(datasets["challenge"] / "E00001", source="wfdb")
    assert generic.meta["source"] == "wfdb" and "snomed" not in generic.meta
    with pytest.raises(ValueError, match="unknown source"):
        read_record(datasets["challenge"] / "E00001", source="holter")
    with pytest.raises(ECGReadError, match="not found"):
        read_record(datasets["challenge"] / "NOPE")


def test_challenge_mat_v5_length_must_match_header(tmp_path):
    import scipy.io

    root = mini.make_challenge(tmp_path / "c", records=(mini.CHALLENGE_RECORDS[0],))
    mat = root / "A0001.mat"
    val = mini.digital_signal("A0001", 1000, 1000.0).T.copy()  # (12, 1000): shorter than the header says
    scipy.io.savemat(str(mat), {"val": val})  # a MATLAB 5 file, decoded through scipy
    with pytest.raises(ECGReadError, match="A0001.mat.*1000 samples but the header says"):
        read_record(root / "A0001")


def test_challenge_mat_v4_corrupt_size_is_truncation_not_allocation(tmp_path):
    root = mini.make_challenge(tmp_path / "c", records=(mini.CHALLENGE_RECORDS[0],))
    hea = root / "A0001.hea"
    lines = hea.read_text().splitlines()
    name, nsig, fs, *_ = lines[0].split()
    lines[0] = f"{name} {nsig} {fs}"  # no sample count: the MAT matrix size alone decides
    hea.write_text("\n".join(lines) + "\n")
    mat = root / "A0001.mat"
    raw = bytearray(mat.read_bytes())
    raw[8:12] = np.array([2_000_000_000], dtype="<i4").tobytes()  # ncols: 12 x 2e9 int16 = 48 GB
    mat.write_bytes(bytes(raw))
    with pytest.raises(ECGReadError, match="truncated MAT file"):
        read_record(root / "A0001")
