"""ECGBench as lmms-eval tasks: YAML configuration only; the logic lives in ``llava_ecg.eval``."""
