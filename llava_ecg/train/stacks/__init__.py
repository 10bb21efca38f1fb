"""ECGInstruct-schema rows for the training stacks beside upstream LLaVA: LLaMA-Factory, TRL, ms-swift.

``llava-ecg export-data`` (``export.export_data``) writes each stack's own data files; ``convert`` holds the row
mapping. On-the-fly training with a Hugging Face processor is ``llava_ecg.train.hf_data``.
"""
