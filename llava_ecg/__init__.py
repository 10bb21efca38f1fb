"""llava-ecg: teach multimodal LLMs to read ECG images on unmodified upstream LLaVA and lmms-eval.

Stages (one subpackage each, data flows forward only):
``signals`` (records -> ECG) -> ``render`` (ECG -> image) -> ``instruct`` (-> LLaVA conversations)
-> ``train`` (upstream llava.train adapters) ; ``eval`` (ECGBench scoring, judge, lmms-eval model).
"""
__version__ = "0.1.0"
