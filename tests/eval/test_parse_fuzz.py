"""No answer text, however odd, makes a parser crash (the authors' script does on some)."""
from hypothesis import given, settings
from hypothesis import strategies as st

from llava_ecg.eval import SUBSETS, parse_prediction
from tests.eval.rows import G12_PROMPT, ecgqa_row, row

ALPHABET = st.sampled_from(list("ABCDEFGH.:;, \n()NORMSTDAFLabnormal-") + ["Answer:", "The correct option is",
                                                                          "Options:", "ABNORMAL", "I-AVB"])
TEXT = st.lists(ALPHABET, max_size=30).map("".join) | st.text(max_size=60)

REFS = {
    "multilabel": row("r", "Classify.", "NORM;AF"),
    "mcq": row("r", G12_PROMPT, "C. x"),
    "ecgqa": ecgqa_row("r", "no, not sure, yes", ["yes"]),
}


@settings(max_examples=150, deadline=None)
@given(TEXT, st.sampled_from(["strict", "pulse"]))
def test_parsers_never_crash(text, mode):
    for subset in SUBSETS.values():
        if subset.kind in REFS:
            parsed = parse_prediction(subset, text, REFS[subset.kind], mode=mode)
            assert parsed.parsed == (parsed.prediction not in (None, [], ""))
