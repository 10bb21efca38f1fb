"""ECGBench task hooks: thin aliases of ``llava_ecg.eval.lmms.hooks`` (all logic lives in ``llava_ecg.eval``)."""
from llava_ecg.eval.lmms import hooks

doc_to_visual = hooks.doc_to_visual
doc_to_text = hooks.doc_to_text
doc_to_messages = hooks.doc_to_messages
doc_to_target = hooks.doc_to_target
process_results = hooks.process_results
aggregate = hooks.aggregate
