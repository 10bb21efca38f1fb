"""``ECGBenchTask``: the lmms-eval task class named in every ECGBench YAML (``class:``), for simple and chat models.

1. **Where the data comes from.** lmms-eval reads a task's data from ``dataset_path``/``dataset_kwargs`` fixed in
   the YAML; ECGBench users keep it in different places (their HF cache, the published parquet, the authors' JSON +
   images export, our bench builder's output). :meth:`download` asks :func:`llava_ecg.eval.lmms.data.load_ecgbench`
   instead, which reads ``ECGBENCH_SOURCE`` / ``ECGBENCH_ROOT`` (or ``dataset_kwargs: {source, root}`` in a YAML
   that includes ours). ``dataset_name`` is the ECGBench config.
2. **Requests that fit the model** (:mod:`llava_ecg.eval.lmms.runtime` says which model and what it can do).
   lmms-eval builds a ``class:`` task the same way for every model, so this class serves both protocols:
   simple models get ``doc_to_text`` + ``doc_to_visual`` requests, chat models (``openai``, ``llava_hf``,
   ``qwen2_5_vl``, ``vllm``, ``sglang``, ...) ``doc_to_messages`` requests.
3. **Answer log-probabilities.** For multi-label, MCQ and ECG-QA subsets a model that implements ``loglikelihood``
   also gets one request per candidate answer (:mod:`llava_ecg.eval.lmms.options`); other models are not asked,
   and ``auc_logprob``/``acc_logprob`` come out NaN with a one-line notice. What comes back is turned into
   "higher = more likely" by the model's known convention (:func:`llava_ecg.eval.lmms.runtime.score_convention`:
   log-probability, or lmms-eval's mean token loss), sign-checked on every item; a model whose convention is
   unknown is not asked, and one whose values contradict its convention gets NaN — never silently inverted.
   The conversation template the model prompts with (:func:`llava_ecg.eval.lmms.runtime.conv_template`) goes into
   every item and the ``conv_template`` metric, so results files and ``llava-ecg report`` show it.
4. **ECG Arena's turns.** Simple models with ``generate_until_multi_round`` answer all turns themselves. Most chat
   models have no such method, so each arena item is one ``generate_until`` request for its *last* turn whose
   messages hold the conversation so far: when the model asks for them (:meth:`_arena_messages`), the earlier turns
   of every pending item are answered first, in one ``generate_until`` batch per turn through the same model, with
   the model's own answers as chat history (the YAML's ``doc_to_messages``,
   :func:`llava_ecg.eval.lmms.hooks.doc_to_messages`). Any chat model that can generate answers the arena.
"""
from __future__ import annotations

import ast
import copy
import threading

from lmms_eval.api.instance import Instance, unwrap_generation_output
from lmms_eval.api.task import ConfigurableMessagesTask, ConfigurableTask

from llava_ecg.eval.lmms import runtime
from llava_ecg.eval.lmms.data import load_ecgbench
from llava_ecg.eval.lmms.hooks import arena_rounds, options_for
from llava_ecg.eval.lmms.options import continuation

OPTION_METRICS = "auc_logprob, acc_logprob"


def _loglikelihood_value(response) -> float:
    """lmms-eval 0.7.3 stringifies ``(logprob, is_greedy)`` tuples on the way back (``unwrap_generation_output``)."""
    if isinstance(response, str):
        response = ast.literal_eval(response)
    if isinstance(response, (tuple, list)):
        response = response[0]
    return float(response)


class ECGBenchTask(ConfigurableMessagesTask):
    def __init__(self, data_dir=None, cache_dir=None, download_mode=None, config=None, model_name=None) -> None:
        config = {k: v for k, v in (config or {}).items() if k != "class"}
        super().__init__(config=config, model_name=model_name)
        self._later_rounds: list[Instance] = []  # arena requests of a chat model
        self._arena_answers: dict[int, list[str]] = {}  # doc_index -> answers to the turns before the last
        self._arena_done: set[int] = set()
        self._arena_lock = threading.RLock()
        self._arena_model = None
        self._score_convention: str | None = None  # of the model the option requests went to
        self._conv_template: str | None = None  # the template that model prompts with (results show it)

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

    # -- requests ------------------------------------------------------------------------------------------------
    def construct_requests(self, doc_id: int, ctx: str, **kwargs):
        model = runtime.current_model()
        caps = runtime.capabilities(model)
        self._conv_template = runtime.conv_template(model)
        split = kwargs["metadata"]["split"]
        multi_round = self.OUTPUT_TYPE == "generate_until_multi_round"
        if caps.chat:
            messages = self._arena_messages if multi_round else self.doc_to_messages
            main = Instance(request_type="generate_until", idx=0, metadata=kwargs["metadata"], arguments=(
                ctx, messages, copy.deepcopy(self.config.generation_kwargs), doc_id, self.config.task, split))
        elif multi_round and not caps.multi_round:
            runtime.notice_once(model, "multi_round", (
                f"ecgbench: {caps.name} (simple) has no generate_until_multi_round: ECG Arena gets turn 1 only and "
                "its items count as judge failures; use the model's chat variant (without --force_simple)"))
            main = Instance(request_type="generate_until", idx=0, metadata=kwargs["metadata"], arguments=(
                ctx, copy.deepcopy(self.config.generation_kwargs), self.doc_to_visual, doc_id, self.config.task,
                split))
        else:
            main = ConfigurableTask.construct_requests(self, doc_id=doc_id, ctx=ctx, **kwargs)
        if caps.chat and multi_round:
            self._later_rounds.append(main)
            self._arena_model = model  # the model may ask for the messages from a worker thread
        if self.OUTPUT_TYPE != "generate_until":
            return main
        options = options_for(self.dataset_no_image[split][doc_id])
        if not options:
            return main
        if not caps.loglikelihood:
            runtime.notice_once(model, "options", (
                f"ecgbench: {caps.name} does not score answers by log-likelihood; {OPTION_METRICS} are NaN "
                "(the other metrics are unaffected)"))
            return main
        if caps.score_convention is None:
            runtime.notice_once(model, "options", (
                f"ecgbench: it is not known whether {caps.name}'s loglikelihood is a log-probability or a loss; "
                f"{OPTION_METRICS} are NaN (docs/evaluation.md, option scores; a model may set "
                "ecgbench_loglikelihood)"))
            return main
        self._score_convention = caps.score_convention
        scored = [
            Instance(request_type="loglikelihood", idx=i + 1, metadata=kwargs["metadata"],
                     arguments=(ctx, continuation(option, caps.score_convention), self.doc_to_visual, doc_id, self.config.task, split))
            for i, option in enumerate(options)
        ]
        return [main, *scored]

    # -- ECG Arena with chat models ---------------------------------------------------------------------------------
    def _arena_messages(self, doc):
        """The last turn's messages, with the conversation so far. The model calls this while it answers the
        arena's requests; the earlier turns of every pending item are asked here first, in one ``generate_until``
        batch per turn, through the same model (lmms-eval frees HF models right after its request loop, so later is
        too late)."""
        answers = self._earlier_answers(doc)
        last = arena_rounds(doc) - 1
        if last == 0:
            return self.doc_to_messages(doc)
        messages, _, _, _ = self.doc_to_messages(doc, round_idx=last, previous_output=answers)
        return messages

    def _earlier_answers(self, doc) -> list[str]:
        with self._arena_lock:
            key = doc["doc_index"]
            if key not in self._arena_answers:
                self._ask_earlier_turns(self._arena_model)
            return self._arena_answers.get(key, [])

    def _ask_earlier_turns(self, model) -> None:
        if model is None:
            raise RuntimeError("ECG Arena: earlier turns need the running lmms-eval model (llava_ecg.eval.lmms.runtime)")
        pending = [inst for inst in self._later_rounds if inst.doc_id not in self._arena_done]
        docs = [self.dataset[inst.metadata["split"]][inst.doc_id] for inst in pending]
        answers: list[list[str]] = [[] for _ in pending]
        round_idx = 0
        while True:
            batch = [i for i, doc in enumerate(docs) if arena_rounds(doc) - 1 > round_idx]
            if not batch:
                break
            requests = [self._round_request(pending[i], docs[i], round_idx, answers[i]) for i in batch]
            for i, output in zip(batch, model.generate_until(requests)):
                text, _ = unwrap_generation_output(output)
                answers[i].append((text or "").strip())
            round_idx += 1
        for inst, doc, answer in zip(pending, docs, answers):
            self._arena_answers[doc["doc_index"]] = answer
            self._arena_done.add(inst.doc_id)

    def _round_request(self, inst: Instance, doc, round_idx: int, answers: list[str]) -> Instance:
        if round_idx == 0:
            messages = self.doc_to_messages(doc)
        else:
            messages, _, _, _ = self.doc_to_messages(doc, round_idx=round_idx, previous_output=list(answers))

        def round_messages(_doc, _messages=messages):
            return _messages

        ctx, _, gen_kwargs, doc_id, task, split = inst.arguments
        return Instance(request_type="generate_until", idx=0, metadata=inst.metadata,
                        arguments=(ctx, round_messages, copy.deepcopy(gen_kwargs), doc_id, task, split))

    def apply_filters(self):
        """Arena with a chat model: each item's answer becomes the list of all its turns (sample logs, scoring)."""
        result = super().apply_filters()
        for inst in self._later_rounds:
            earlier = self._arena_answers.get(self.dataset[inst.metadata["split"]][inst.doc_id]["doc_index"])
            if earlier is None:
                continue
            last = inst.resps[0] if inst.resps else ""
            answer = [*earlier, str(last[0] if isinstance(last, list) and last else last).strip()]
            inst.resps = [answer]
            for key in list(inst.filtered_resps) or ["none"]:
                inst.filtered_resps[key] = answer
        self._later_rounds = []
        return result

    # -- results -----------------------------------------------------------------------------------------------
    def process_results(self, doc, results, full_docs=None):
        if not callable(self.config.process_results):  # --predict_only replaced the metrics with "bypass"
            return {name: None for name in self._metric_fn_list}
        answer = results[0] if results else ""
        if isinstance(answer, str):
            answer = answer.strip()
        option_scores = None
        if len(results) > 1:
            options = options_for(doc)
            raw = [_loglikelihood_value(r) for r in results[1:]]
            if len(options) == len(raw):
                normalised = [runtime.normalise_score(self._score_convention, v) for v in raw]
                problems = [p for _, p in normalised if p]
                option_scores = {"options": options, "logprobs": [v for v, _ in normalised],
                                 "convention": self._score_convention, "problem": problems[0] if problems else None}
        return self.config.process_results(doc, [answer], option_scores=option_scores,
                                           conv_template=self._conv_template)
