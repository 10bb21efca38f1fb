"""``ECGBenchTask``: lmms-eval's ``ConfigurableTask`` with two changes, named in every ECGBench YAML (``class:``).

1. **Where the data comes from.** lmms-eval reads a task's data from ``dataset_path``/``dataset_kwargs`` fixed in
   the YAML; ECGBench users keep it in different places (their HF cache, the published parquet, the authors' JSON +
   images export, our bench builder's output). :meth:`download` asks :func:`llava_ecg.eval.lmms.data.load_ecgbench`
   instead, which reads ``ECGBENCH_SOURCE`` / ``ECGBENCH_ROOT`` (or ``dataset_kwargs: {source, root}`` in a YAML
   that includes ours). ``dataset_name`` is the ECGBench config. Errors name the file and stop at once (the base
   class retries downloads for a minute).
2. **Answer log-probabilities.** For multi-label, MCQ and ECG-QA subsets each document also gets one
   ``loglikelihood`` request per candidate answer (see :mod:`llava_ecg.eval.lmms.options`), next to its
   ``generate_until`` request; :meth:`process_results` hands the scores to the YAML's ``process_results``.
   ``ECGBENCH_OPTION_SCORES=0`` turns this off (for models without ``loglikelihood``).
"""
from __future__ import annotations

import ast
import os

from lmms_eval.api.instance import Instance
from lmms_eval.api.task import ConfigurableTask

from llava_ecg.eval.lmms.data import load_ecgbench
from llava_ecg.eval.lmms.hooks import options_for
from llava_ecg.eval.lmms.options import continuation


def option_scoring_enabled() -> bool:
    return os.environ.get("ECGBENCH_OPTION_SCORES", "1").strip().lower() not in ("0", "false", "no", "off")


def _loglikelihood_value(response) -> float:
    """lmms-eval 0.7.3 stringifies ``(logprob, is_greedy)`` tuples on the way back (``unwrap_generation_output``)."""
    if isinstance(response, str):
        response = ast.literal_eval(response)
    if isinstance(response, (tuple, list)):
        response = response[0]
    return float(response)


class ECGBenchTask(ConfigurableTask):
    def __init__(self, data_dir=None, cache_dir=None, download_mode=None, config=None, model_name=None) -> None:
        config = {k: v for k, v in (config or {}).items() if k != "class"}
        super().__init__(config=config, model_name=model_name)

    def download(self, dataset_kwargs=None) -> None:
        import datasets

        kwargs = dict(dataset_kwargs or {})
        subset = self.config.dataset_name
        split = self.config.test_split or "test"
        ds = load_ecgbench(subset, source=kwargs.get("source"), root=kwargs.get("root"),
                           hf_repo=self.config.dataset_path)
        ds = ds.add_column("subset", [subset] * len(ds)).add_column("doc_index", list(range(len(ds))))
        self.dataset = datasets.DatasetDict({split: ds})
        if self.config.process_docs is not None:
            self.dataset[split] = self.config.process_docs(self.dataset[split])
        self.dataset_no_image = datasets.DatasetDict({split: self.dataset[split].remove_columns(["image"])})

    def construct_requests(self, doc_id: int, ctx: str, **kwargs):
        request = super().construct_requests(doc_id=doc_id, ctx=ctx, **kwargs)
        if self.OUTPUT_TYPE != "generate_until" or not option_scoring_enabled():
            return request
        split = kwargs["metadata"]["split"]
        options = options_for(self.dataset_no_image[split][doc_id])
        scored = [
            Instance(request_type="loglikelihood", idx=i + 1, metadata=kwargs["metadata"],
                     arguments=(ctx, continuation(option), self.doc_to_visual, doc_id, self.config.task, split))
            for i, option in enumerate(options)
        ]
        return [request, *scored]

    def process_results(self, doc, results, full_docs=None):
        if not callable(self.config.process_results):  # --predict_only replaced the metrics with "bypass"
            return {name: None for name in self._metric_fn_list}
        answer = results[0] if results else ""
        if isinstance(answer, str):
            answer = answer.strip()
        option_scores = None
        if len(results) > 1:
            options = options_for(doc)
            logprobs = [_loglikelihood_value(r) for r in results[1:]]
            if len(options) == len(logprobs):
                option_scores = {"options": options, "logprobs": logprobs}
        return self.config.process_results(doc, [answer], option_scores=option_scores)
