"""``llm_summary.json`` / ``.md``: what the LLM passes of a build did, summed over its chunks.

Synthesis: rows before (templated) and after, items planned and kept per kind and per framing x output format,
rejections by reason, the judge's score histogram, requests, tokens and cost per endpoint. Rewrite: rows dropped
because a report could not be translated.
"""
from __future__ import annotations

import json
from pathlib import Path

from .. import io as rio
from .prompts import FRAMINGS, OUTPUT_FORMATS


def _table(head: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def synth_markdown(s: dict) -> list[str]:
    planned, kept = s.get("planned", {}), s.get("kept", {})
    templated = s.get("templated_rows", 0)
    n_kept, readmitted = sum(kept.values()), s.get("readmitted", 0)
    out = ["## LLM synthesis", ""]
    out += _table(["rows", "count"], [["templated (offline build)", templated], ["synthesised, kept", n_kept],
                                      ["re-admitted after review", readmitted],
                                      ["total", templated + n_kept + readmitted]])
    kinds = [["task (Fig A5)", sum(v for k, v in planned.items() if k.startswith("task|")),
              sum(v for k, v in kept.items() if k.startswith("task|"))]]
    kinds += [[f"{k} ({fig})", planned.get(k, 0), kept.get(k, 0)]
              for k, fig in (("dialogue", "Fig A6"), ("report", "Fig A7"))]
    out += ["### Items", ""] + _table(["kind", "planned", "kept"], kinds)
    formats = list(OUTPUT_FORMATS)
    rows = []
    for framing in FRAMINGS:
        cells = [f"{kept.get(f'task|{framing}|{fmt}', 0)}/{planned.get(f'task|{framing}|{fmt}', 0)}"
                 for fmt in formats]
        rows.append([framing, *cells])
    out += ["### Task items kept/planned, framing x output format", ""] + _table(["framing", *formats], rows)
    rejected = s.get("rejected", {})
    out += ["### Rejections by reason (an item can have several; all are in the review file)", ""]
    out += _table(["reason", "items"], [[k, v] for k, v in sorted(rejected.items(), key=lambda kv: -kv[1])]
                  or [["none", 0]])
    scores = s.get("scores", {})
    if scores:
        out += ["### Judge scores", ""] + _table(["score", "items"], [[k, scores[k]] for k in
                                                                      sorted(scores, key=float)])
    req = s.get("requests", {})
    head = ["endpoint", "answered", "cached", "failed", "HTTP requests", "prompt tokens", "completion tokens",
            "cached prompt tokens", "cached completion tokens"]
    keys = ["answered", "cached", "failed", "http_requests", "prompt_tokens", "completion_tokens",
            "cached_prompt_tokens", "cached_completion_tokens"]
    out += ["### Requests and tokens (sent in this build; cached answers cost nothing)", ""]
    out += _table(head, [[who, *[req.get(who, {}).get(k, 0) for k in keys]] for who in ("generator", "judge")])
    out += [f"Cost: {s.get('cost_usd', 0.0):.4f} USD (at the configured prices per 1M tokens)", ""]
    return out


def write_llm_summary(stages: dict, out_dir, *, stem: str = "llm_summary") -> dict[str, Path]:
    out = Path(out_dir)
    files = {"llm_summary_json": out / f"{stem}.json", "llm_summary_md": out / f"{stem}.md"}
    with rio.atomic_open(files["llm_summary_json"]) as fh:
        json.dump(stages, fh, indent=1, sort_keys=True)
    lines = ["# LLM passes", ""]
    if "synth" in stages:
        lines += synth_markdown(stages["synth"])
    if "rewrite" in stages:
        lines += ["## LLM rewrite", ""] + _table(["count", "rows"], sorted(stages["rewrite"].items()))
    with rio.atomic_open(files["llm_summary_md"]) as fh:
        fh.write("\n".join(lines))
    return files
