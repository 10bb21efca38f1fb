"""export stage: original-format LLaVA-1.6 checkpoints -> Hugging Face ``LlavaNextForConditionalGeneration``.

``llava-ecg export-hf CKPT OUT`` / :func:`llava_ecg.export.hf.export_hf`. Needs a current transformers (LlavaNext
classes), not upstream LLaVA: run it in the evaluation install. docs/evaluation.md#exporting-to-hugging-face.
"""
