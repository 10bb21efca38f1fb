"""lmms-eval task definitions shipped with llava-ecg (``llava-ecg tasks-path`` prints this folder's ecgbench/)."""
