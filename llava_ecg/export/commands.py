"""``llava-ecg export-hf``: imports stay lazy for ``--help``."""
from __future__ import annotations

import json


def _export(args) -> int:
    from pathlib import Path

    from llava_ecg.errors import RunFailed
    from llava_ecg.export.checkpoint import check_supported, read_config

    ckpt = Path(args.checkpoint)  # the input first: its errors name it in any install
    check_supported(read_config(ckpt), ckpt / "config.json")
    try:
        import transformers
        from transformers import LlavaNextConfig  # noqa: F401
    except ImportError:
        raise RunFailed("export-hf needs a current transformers with LlavaNext (tested with 5.25; the training install pins 4.37.2): "
                          "run it in the evaluation install (docs/install.md)") from None
    from llava_ecg.export.hf import export_hf

    record = export_hf(args.checkpoint, args.output, conv_template=args.conv_template, online=args.online,
                       vision_tower=args.vision_tower, verify=not args.no_verify)
    print(f"exported {args.checkpoint} -> {args.output} (LlavaNextForConditionalGeneration, transformers "
          f"{transformers.__version__})")
    print(f"chat template of {record['conv_template_source']}; image token id "
          f"{record['image_token_id']}; vision tower from {record['vision_tower']}")
    if args.verbose:
        print(json.dumps(record, indent=2))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export-hf", help="export an original-format LLaVA-1.6 checkpoint to a Hugging Face LlavaNext folder",
        description="Convert an original-format llava_llama checkpoint (anyres + spatial_unpad, mlp2x_gelu, CLIP) "
                    "into a LlavaNextForConditionalGeneration folder with processor, grid pinpoints and a chat "
                    "template that gives the training conversation's token ids, for lmms-eval's llava_hf, vLLM "
                    "and SGLang. Needs a current transformers (the evaluation install); LoRA runs: merge-lora "
                    "first. docs/evaluation.md#exporting-to-hugging-face")
    p.add_argument("checkpoint", help="checkpoint folder (config.json, weights, tokenizer)")
    p.add_argument("output", help="folder to write (replaced if it holds an earlier export)")
    p.add_argument("--conv-template", default=None,
                   help="conversation template (default: the one the checkpoint records, else llava_v1)")
    p.add_argument("--vision-tower", default=None, help="CLIP folder to use instead of the config's mm_vision_tower")
    p.add_argument("--online", action="store_true", help="allow downloading mm_vision_tower from the hub")
    p.add_argument("--no-verify", action="store_true", help="skip loading the result with AutoModel/AutoProcessor")
    p.add_argument("-v", "--verbose", action="store_true", help="print the export record (JSON)")
    p.set_defaults(func=_export)
