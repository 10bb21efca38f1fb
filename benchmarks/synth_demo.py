"""LLM synthesis on real sample records against the local test server, with the deterministic stand-in model of
tests/support/fake_llm.py (it plants invented labels, wrong heart rates, quoting, malformed blocks and refusals
at fixed rates, and its judge scores a share of items low). Prints items per framing and per output format after
synthesis, grounding and judging, the rejection counts and the prompt-token figures used in docs/instruct.md.

    python benchmarks/synth_demo.py [--realdata DIR] [--out /tmp/synth_demo]

Records: PTB-XL rows of ``ptbxl_database_first520.csv`` (SCP codes + the original, mostly German, reports),
English PTB-XL reports of the authors' report test set, and the Challenge 2021 records (real signals and labels).
Nothing is downloaded; no real LLM is called.
"""
from __future__ import annotations

import argparse
import ast
import csv
import json
import os
import shutil
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llava_ecg.instruct import io as rio  # noqa: E402
from llava_ecg.instruct.build import BuildConfig, build_instruct  # noqa: E402
from llava_ecg.instruct.synth import FRAMINGS, OUTPUT_FORMATS, SynthConfig, Synthesizer  # noqa: E402
from llava_ecg.llm.client import ChatClient, LLMConfig  # noqa: E402
from llava_ecg.signals import read_record  # noqa: E402
from llava_ecg.signals.ecg import ECG, STANDARD_LEADS  # noqa: E402
from tests.support.fake_llm import responder  # noqa: E402
from tests.support.openai_stub import OpenAIStub  # noqa: E402

FAULTS = {"invent": 0.10, "quote": 0.05, "wrong_hr": 0.05, "malformed": 0.05, "refusal": 0.03}


def _no_signal(meta: dict) -> ECG:
    return ECG(np.zeros((0, 12), np.float32), 100.0, list(STANDARD_LEADS), meta)


def real_records(realdata: Path, n_ptbxl: int, n_reports: int) -> list[tuple[str, ECG]]:
    out = []
    with open(realdata / "ptb-xl" / "ptbxl_database_first520.csv", encoding="utf-8") as fh:
        for row in list(csv.DictReader(fh))[:n_ptbxl]:
            meta = {"source": "ptbxl", "scp_codes": ast.literal_eval(row["scp_codes"]), "report": row["report"],
                    "patient_id": row["patient_id"]}
            ref = row["filename_lr"]
            if ref.endswith("00001_lr"):
                ecg = read_record(realdata / "ptb-xl" / "00001_lr")
                out.append((ref, ECG(ecg.signal, ecg.fs, ecg.leads, meta)))
            else:
                out.append((ref, _no_signal(meta)))
    items = json.loads((realdata / "pulse" / "ptb_report_generation_test.json").read_text())[:n_reports]
    for item in items:
        ecg_id = item["id"].removeprefix("ptb-report-").removesuffix("-0")
        report = item["conversation"][1]["value"]
        out.append((f"records500/{ecg_id[:2]}000/{ecg_id}", _no_signal({"source": "ptbxl", "report": report})))
    for hea in sorted((realdata / "cinc2021").glob("*.hea")):
        out.append((hea.stem, read_record(hea.with_suffix(""))))
    return out


def _short(text: str, n: int = 150) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "…"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = Path(os.environ.get("LLAVA_ECG_SHARED") or ROOT.parent / "shared")
    ap.add_argument("--realdata", default=str(shared / "realdata"), help="default: $LLAVA_ECG_SHARED/realdata")
    ap.add_argument("--out", default="/tmp/synth_demo")
    ap.add_argument("--ptbxl", type=int, default=60)
    ap.add_argument("--reports", type=int, default=40)
    ap.add_argument("--tasks", type=int, default=4)
    args = ap.parse_args(argv)
    records = real_records(Path(args.realdata), args.ptbxl, args.reports)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    with OpenAIStub(responder=responder(faults=FAULTS, judge_low=0.15)) as stub:
        def client(model):
            return ChatClient(LLMConfig(base_url=stub.url, model=model, cache_dir=str(out / "llm_cache"),
                                        backoff_s=0.001), sleep=lambda s: None)
        synth = Synthesizer(client("stand-in-generator"), client("stand-in-judge"),
                            SynthConfig(tasks_per_record=args.tasks, price_in=0.6, price_out=0.8))
        res = build_instruct(records, out, BuildConfig(progress=False), synth=synth)
        prompt_chars = defaultdict(list)
        for r in stub.requests:
            kind = r.prompt.split(" ", 3)[:3]
            prompt_chars[" ".join(kind)].append(sum(len(m["content"]) for m in r.json["messages"]))
    rows = list(rio.iter_jsonl(res.files["jsonl"]))
    manifest = list(rio.iter_jsonl(res.files["manifest"]))
    items = [(r, m) for r, m in zip(rows, manifest) if "synth" in m]
    print(f"{len(records)} real records -> {res.rows} rows ({len(items)} synthesised and kept)\n")
    tasks = [(r, m) for r, m in items if m["synth"]["kind"] == "task"]
    for key, names in (("framing", FRAMINGS), ("output_format", OUTPUT_FORMATS)):
        print(f"## kept task items per {key} (up to 5 each, abbreviated)\n")
        for name in names:
            chosen = [(r, m) for r, m in tasks if m["synth"][key] == name][:5]
            print(f"### {name} ({sum(1 for _r, m in tasks if m['synth'][key] == name)} kept)")
            for r, m in chosen:
                q, a = r["conversations"][0]["value"].removeprefix("<image>\n"), r["conversations"][1]["value"]
                print(f"- [{m['record']} | {m['synth']['framing']}/{m['synth']['output_format']} | judge "
                      f"{m['synth']['judge']['score']:g}] Q: {_short(q, 90)} A: {_short(a)}")
            print()
    for kind in ("dialogue", "report"):
        print(f"## {kind} items (up to 3)\n")
        for r, m in [(r, m) for r, m in items if m["synth"]["kind"] == kind][:3]:
            turns = " / ".join(_short(c["value"].removeprefix("<image>\n"), 80) for c in r["conversations"])
            print(f"- [{m['record']}] {turns}")
        print()
    review = [json.loads(line) for line in res.files["review"].read_text().splitlines()]
    print("## rejected (from review.jsonl, up to 2 per reason)\n")
    shown = defaultdict(int)
    for e in review:
        reason = e["reasons"][0]
        if shown[reason] < 2:
            shown[reason] += 1
            text = " / ".join(c["value"] for c in e["row"]["conversations"]) if e["row"] else e.get("raw", "")
            print(f"- {reason} ({e['stage']}): {e['id']}: {_short(text or '', 120)} | detail: "
                  f"{_short(str(e['detail']), 80)}")
    print()
    print(res.files["llm_summary_md"].read_text())
    print("## prompt size (characters / 4 = tokens, roughly)\n")
    for kind, sizes in sorted(prompt_chars.items()):
        print(f"- {kind}: {len(sizes)} requests, mean {statistics.mean(sizes) / 4:.0f} tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
