"""``llava-ecg doctor``: is this stack able to train and evaluate? Versions, then every known incompatibility.

The rules encode what was measured in docs/install.md (upstream llava-torch 1.2.2.post1 + lmms-eval 0.7.3).
Severity ``FAIL`` means training or evaluation cannot work (exit code 1); ``WARN`` means it works with a caveat.
"""
from __future__ import annotations

import importlib.metadata as md
import json
from dataclasses import asdict, dataclass
from pathlib import Path

PACKAGES = {
    "torch": "torch", "transformers": "transformers", "tokenizers": "tokenizers", "accelerate": "accelerate",
    "peft": "peft", "deepspeed": "deepspeed", "llava": "llava-torch", "lmms-eval": "lmms-eval", "wfdb": "wfdb",
    "sentencepiece": "sentencepiece", "protobuf": "protobuf", "filelock": "filelock",
    "huggingface_hub": "huggingface_hub", "numpy": "numpy", "flash-attn": "flash-attn", "torchvision": "torchvision",
}


@dataclass
class Finding:
    severity: str  # OK | WARN | FAIL
    check: str
    detail: str
    fix: str = ""


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _v(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    parts = []
    for piece in text.split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def version_rules(versions: dict[str, str | None]) -> list[Finding]:
    """Known incompatibilities between version numbers alone (no imports)."""
    out: list[Finding] = []
    tf, peft, acc = _v(versions.get("transformers")), _v(versions.get("peft")), _v(versions.get("accelerate"))
    hub, flock = _v(versions.get("huggingface_hub")), _v(versions.get("filelock"))
    proto, spm = _v(versions.get("protobuf")), _v(versions.get("sentencepiece"))
    pins = "pip install -c constraints.txt 'transformers==4.37.2' (see docs/install.md)"
    if not tf:
        out.append(Finding("FAIL", "transformers", "not installed", pins))
    elif tf >= (4, 53):
        out.append(Finding("FAIL", "transformers", f"{versions['transformers']}: upstream llava_trainer imports "
                           "ALL_LAYERNORM_LAYERS, removed in 4.53 — training cannot start", pins))
    elif tf >= (4, 52):
        out.append(Finding("FAIL", "transformers", f"{versions['transformers']}: LLaVATrainer._get_train_sampler "
                           "arity changed in 4.52 — upstream training fails", pins))
    elif tf >= (4, 47):
        out.append(Finding("WARN", "transformers", f"{versions['transformers']}: mid-run checkpoints fail "
                           "(Trainer._save_checkpoint arity, 4.47-4.51)", pins))
    elif tf >= (4, 38):
        out.append(Finding("WARN", "transformers", f"{versions['transformers']}: generate() needs the "
                           "cache_position shim; llava_ecg.compat.install() applies it in our entry points",
                           "call llava_ecg.compat.install() in scripts that call generate() directly"))
    else:
        out.append(Finding("OK", "transformers", f"{versions['transformers']}: upstream LLaVA runs unchanged"))
    if peft and tf and peft >= (0, 14) and tf < (4, 46):
        out.append(Finding("FAIL", "peft", f"peft {versions['peft']} breaks `transformers.trainer` import on "
                           f"transformers {versions['transformers']} (EncoderDecoderCache) — ALL training fails",
                           "pip install 'peft==0.13.2'"))
    if acc and tf and acc >= (1, 0) and tf < (4, 40):
        out.append(Finding("FAIL", "accelerate", f"accelerate {versions['accelerate']} removed `dispatch_batches`, "
                           f"which Trainer of transformers {versions['transformers']} passes",
                           "pip install 'accelerate==0.34.2'"))
    if hub and hub >= (1, 0) and tf and tf < (5,):
        out.append(Finding("FAIL", "huggingface_hub", f"{versions['huggingface_hub']}: transformers 4.x needs <1.0",
                           "pip install 'huggingface_hub<1.0'"))
    if flock and flock >= (4,):
        out.append(Finding("FAIL", "filelock", f"{versions['filelock']}: lmms-eval 0.7.3 imports filelock._api "
                           "(removed in 4.x) — every evaluation dies", "pip install 'filelock<4'"))
    if spm and spm >= (0, 2, 3) and proto and proto < (7, 36, 1):
        out.append(Finding("FAIL", "protobuf", f"protobuf {versions['protobuf']} < 7.36.1: sentencepiece "
                           f"{versions['sentencepiece']} gencode fails to load slow Llama tokenizers",
                           "pip install 'protobuf>=7.36.1' (or sentencepiece==0.2.1 if protobuf 6 is forced)"))
    for name in ("llava", "lmms-eval", "deepspeed", "wfdb"):
        if not versions.get(name):
            dist = PACKAGES[name]
            fix = f"pip install --no-deps -c constraints.txt {dist}" if name in ("llava", "lmms-eval") \
                else f"pip install -c constraints.txt {dist}"
            why = "LoRA/projector saves import it even without ZeRO" if name == "deepspeed" else "required"
            out.append(Finding("FAIL", name, f"not installed ({why})", fix))
    return out


def _try_import(check: str, statement: str, fix: str) -> Finding:
    try:
        exec(statement, {})
    except Exception as exc:  # we report any import-time failure
        return Finding("FAIL", check, f"`{statement}` failed: {type(exc).__name__}: {exc}", fix)
    return Finding("OK", check, "imports")


def import_checks(versions: dict[str, str | None]) -> list[Finding]:
    out = []
    if versions.get("torchvision"):
        out.append(_try_import("torchvision", "import torchvision",
                               "pip uninstall torchvision (a CUDA torchvision beside CPU torch breaks "
                               "transformers' CLIPImageProcessor and lmms-eval)"))
    # llava/model/__init__.py swallows import errors; import the real module to see the cause.
    out.append(_try_import("llava model", "import llava.model.language_model.llava_llama",
                           "see the error; usually a transformers/peft version outside constraints.txt"))
    out.append(_try_import("llava train", "import llava.train.train", "see docs/install.md"))
    out.append(_try_import("lmms-eval", "import lmms_eval.evaluator", "pip install -r requirements/lmms-eval-runtime.txt"))
    out.append(_try_import("deepspeed", "import deepspeed", "pip install deepspeed"))
    eps = [ep for ep in md.entry_points(group="lmms_eval.models") if ep.name == "llava_ecg"]
    if not eps:
        out.append(Finding("FAIL", "lmms-eval plugin", "entry point lmms_eval.models:llava_ecg missing",
                           "pip install -e . (reinstall llava-ecg)"))
    else:
        try:
            eps[0].load()
            out.append(Finding("OK", "lmms-eval plugin", f"entry point {eps[0].value} loads"))
        except Exception as exc:
            out.append(Finding("FAIL", "lmms-eval plugin", f"{eps[0].value}: {type(exc).__name__}: {exc}",
                               "reinstall llava-ecg"))
    return out


def accelerator_checks(versions: dict[str, str | None]) -> list[Finding]:
    import torch

    if not torch.cuda.is_available():
        return [Finding("OK", "device", "CPU only (CUDA not available): tiny models and tests; use a GPU for 7B")]
    name = torch.cuda.get_device_name(0)
    out = [Finding("OK", "device", f"CUDA {torch.version.cuda}, {torch.cuda.device_count()} x {name}, "
                   f"bf16={'yes' if torch.cuda.is_bf16_supported() else 'no'}")]
    if not versions.get("flash-attn"):
        out.append(Finding("WARN", "flash-attn", "not installed: the PULSE recipe falls back to sdpa attention",
                           "pip install -e '.[gpu]' --no-build-isolation"))
    return out


def tokenizer_check(model_dir: str) -> Finding:
    """Upstream LLaVA needs a slow sentencepiece tokenizer with an unk token (pad := unk)."""
    path = Path(model_dir)
    cfg_file = path / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text()) if cfg_file.exists() else {}
    if cfg.get("tokenizer_class", "").endswith("Fast") and not (path / "tokenizer.model").exists():
        return Finding("FAIL", "tokenizer", f"{model_dir}: only a fast tokenizer is configured; upstream loads "
                       "use_fast=False and fast Llama tokenizers silently mask every label on transformers 4.46",
                       "ship the sentencepiece tokenizer.model with the checkpoint")
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(model_dir, use_fast=False)
    except Exception as exc:
        return Finding("FAIL", "tokenizer", f"{model_dir}: {type(exc).__name__}: {exc}", "see docs/install.md")
    if getattr(tok, "is_fast", False) or tok.unk_token is None:
        return Finding("FAIL", "tokenizer", f"{model_dir}: {type(tok).__name__} (fast or without unk token)",
                       "use the slow sentencepiece LlamaTokenizer")
    return Finding("OK", "tokenizer", f"{model_dir}: {type(tok).__name__}, unk={tok.unk_token!r}")


def checkpoint_checks(ckpt: str) -> list[Finding]:
    """What a checkpoint's ``config.json`` must hold to be served the way it was trained."""
    path = Path(ckpt) / "config.json"
    try:
        cfg = json.loads(path.read_text())
    except FileNotFoundError:
        return [Finding("FAIL", "checkpoint", f"{path}: no such file", "give a checkpoint folder (config.json)")]
    except (OSError, ValueError) as exc:
        return [Finding("FAIL", "checkpoint", f"{path}: unreadable ({exc})", "")]
    if not isinstance(cfg, dict):
        return [Finding("FAIL", "checkpoint", f"{path}: not a JSON object", "")]
    aspect = str(cfg.get("image_aspect_ratio") or "")
    if "anyres" in aspect and not cfg.get("image_grid_pinpoints"):
        return [Finding(
            "FAIL", "checkpoint",
            f"{path}: image_aspect_ratio={aspect} but no image_grid_pinpoints: no anyres input can be built for it "
            "(upstream's process_images raises 'malformed node or string: None', ours ImageConfigError). Typical "
            "cause: trained through upstream's llava/train/train.py, which has no --image_grid_pinpoints flag and "
            "trains such a run on single square-resized images (docs/upstream.md)",
            "retrain through llava_ecg.train.run (it records the pinpoints), or, if the run really used anyres "
            "tiles, add the grid it was trained with as image_grid_pinpoints to config.json")]
    return [Finding("OK", "checkpoint", f"{path}: image_aspect_ratio={aspect or '-'}"
                    + (f", {len(cfg['image_grid_pinpoints'])} grid pinpoints" if "anyres" in aspect else ""))]


def diagnose(model_dir: str | None = None, checkpoint: str | None = None
             ) -> tuple[dict[str, str | None], list[Finding]]:
    versions = {name: _version(dist) for name, dist in PACKAGES.items()}
    findings = version_rules(versions)
    findings += import_checks(versions)
    findings += accelerator_checks(versions)
    if model_dir:
        findings.append(tokenizer_check(model_dir))
    if checkpoint:
        findings += checkpoint_checks(checkpoint)
    return versions, findings


def run(args) -> int:
    versions, findings = diagnose(args.model, getattr(args, "checkpoint", None))
    failed = any(f.severity == "FAIL" for f in findings)
    if args.json:
        print(json.dumps({"versions": versions, "findings": [asdict(f) for f in findings], "ok": not failed},
                         indent=2))
        return int(failed)
    if not args.quiet:
        print(f"{'package':<17}version")
        for name, ver in versions.items():
            print(f"  {name:<15}  {ver or '-'}")
        print()
    for f in findings:
        if args.quiet and f.severity == "OK":
            continue
        print(f"[{f.severity:>4}] {f.check}: {f.detail}")
        if f.fix and f.severity != "OK":
            print(f"       fix: {f.fix}")
    if not args.quiet or failed:
        print("\nstack can train and evaluate" if not failed else "\nstack is BROKEN (see FAIL lines)")
    return int(failed)


def register(sub) -> None:
    p = sub.add_parser("doctor", help="check the installed stack (versions, known incompatibilities) and a checkpoint")
    p.add_argument("checkpoint", nargs="?", help="also check this checkpoint folder's config.json (e.g. anyres "
                   "without grid pinpoints)")
    p.add_argument("--model", help="also check this checkpoint's tokenizer (slow, with unk)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--quiet", action="store_true", help="print only problems")
    p.set_defaults(func=run)
