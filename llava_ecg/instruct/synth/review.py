"""The review file and re-admission.

Every synthesised item that fails parsing, grounding or the judge is written to ``OUT/review.jsonl`` (one file per
shard): ``{"id", "stage": parse|grounding|judge, "reasons", "score", "reason", "judge_model", "detail", "row",
"manifest"[, "raw", "error"]}``. Nothing is dropped silently. A reviewer who finds an item good re-admits it:

    llava-ecg readmit OUT --ids ptb-xl-00001_lr-st0,ptb-xl-00002_lr-sd0
    llava-ecg readmit OUT --from reviewed.jsonl      # entries of the review file marked "decision": "admit"

Re-admitted rows are stored beside the chunks (``parts/<shard>/readmitted-*.jsonl``, manifest ``synth.readmitted``)
and the shard's final files are reassembled, so a later resume of the build keeps them.
"""
from __future__ import annotations

import re
from pathlib import Path

from llava_ecg.errors import LlavaEcgError

from .. import io as rio
from ..build import readmitted_files, reassemble


class ReviewError(LlavaEcgError):
    """A review file or an id that cannot be re-admitted."""


_SHARD = re.compile(r"^review(?:\.shard-(\d+of\d+))?\.jsonl$")


def review_files(out_dir) -> dict[str, Path]:
    """shard tag -> assembled review file of a build folder."""
    out = {}
    for path in sorted(Path(out_dir).glob("review*.jsonl")):
        m = _SHARD.match(path.name)
        if m:
            out[m.group(1) or "000of001"] = path
    return out


def admitted_ids(path) -> list[str]:
    """Ids of the entries of an edited review file whose ``decision`` is ``admit``."""
    ids = []
    for entry in rio.iter_jsonl(path):
        if str(entry.get("decision", "")).strip().lower() in ("admit", "admitted", "keep", "accept"):
            ids.append(entry["id"])
    return ids


def readmit(out_dir, ids: list[str], *, reviewer: str | None = None) -> dict:
    """Move the review entries with these ids back into the build; returns counts and the unknown ids."""
    out = Path(out_dir)
    files = review_files(out)
    if not files:
        raise ReviewError(f"{out}: no review*.jsonl (was the build run with LLM synthesis?)")
    wanted = dict.fromkeys(ids)
    found: dict[str, dict] = {}
    shard_of: dict[str, str] = {}
    for tag, path in files.items():
        for entry in rio.iter_jsonl(path):
            if entry["id"] in wanted:
                found[entry["id"]] = entry
                shard_of[entry["id"]] = tag
    no_row = [i for i, e in found.items() if not e.get("row")]
    if no_row:
        raise ReviewError(f"{', '.join(no_row)}: the model's reply could not be parsed, there is no item to re-admit "
                          "(see the entry's 'raw')")
    unknown = [i for i in wanted if i not in found]
    if unknown:
        raise ReviewError(f"not in {', '.join(str(p) for p in files.values())}: {', '.join(unknown)}")
    admitted = 0
    for tag in sorted(set(shard_of.values())):
        rows_path, manifest_path = readmitted_files(out / "parts" / tag)
        rows = list(rio.iter_jsonl(rows_path)) if rows_path.exists() else []
        manifest = list(rio.iter_jsonl(manifest_path)) if manifest_path.exists() else []
        have = {r["id"] for r in rows}
        for rid, entry in found.items():
            if shard_of[rid] != tag or rid in have:
                continue
            m = entry["manifest"]
            m["synth"]["readmitted"] = {"reviewer": reviewer, "stage": entry["stage"], "reasons": entry["reasons"]}
            rows.append(entry["row"])
            manifest.append(m)
            admitted += 1
        rio.write_jsonl(manifest_path, manifest)
        rio.write_jsonl(rows_path, rows)
        reassemble(out, tag)
    return {"admitted": admitted, "already": len(found) - admitted}
