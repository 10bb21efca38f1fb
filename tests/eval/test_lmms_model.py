"""The ``llava_ecg`` lmms-eval model on the tiny offline LLaVA (pad and anyres checkpoints), in-process."""
from __future__ import annotations

import pytest
import torch
from lmms_eval.api.instance import Instance

from llava_ecg.eval.lmms.model import LlavaEcg, builder_model_name
from tests.eval.ecgbench_fixture import ecg_image

GEN = {"max_new_tokens": 8, "temperature": 0, "do_sample": False, "until": []}
QUESTIONS = ["Classify the ECG. NORM or ABNORMAL?", "What is the rhythm?", "Write a report for this ECG image."]


@pytest.fixture(scope="module")
def anyres_checkpoint(tmp_path_factory):
    from llava_ecg.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("anyres"), image_aspect_ratio="anyres",
                                 mm_patch_merge_type="spatial_unpad",
                                 image_grid_pinpoints=[[32, 64], [64, 32], [64, 64]])


@pytest.fixture(scope="module", params=["pad", "anyres"])
def model(request, tiny_checkpoint, anyres_checkpoint):
    path = tiny_checkpoint if request.param == "pad" else anyres_checkpoint
    m = LlavaEcg(pretrained=str(path), batch_size=3)
    images = [ecg_image(i, size) for i, size in enumerate([(96, 48), (48, 64), (64, 64)])]
    m.task_dict = {"t": {"test": [{"image": im} for im in images]}}
    return m


def visual(doc):
    return [doc["image"]]


def meta(doc_id: int) -> dict:
    return {"task": "t", "doc_id": doc_id, "repeats": 1}


def gen_requests():
    return [Instance("generate_until", (q, dict(GEN), visual, i, "t", "test"), 0, meta(i))
            for i, q in enumerate(QUESTIONS)]


def test_builder_name_always_takes_the_llava_branch(tmp_path):
    assert builder_model_name("/models/PULSE-7B") == "llava_PULSE-7B"
    assert builder_model_name("/models/llava-v1.6-ecg") == "llava-v1.6-ecg"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "adapter_config.json").write_text("{}")
    assert builder_model_name(str(tmp_path / "run"), model_base="/base") == "llava_run_lora"
    assert builder_model_name(str(tmp_path / "run")) == "llava_run"


def test_loads_checkpoint_without_llava_in_its_name(model, tiny_checkpoint):
    assert "llava" not in tiny_checkpoint.name.lower()
    assert model._image_processor is not None and model.model.get_vision_tower().is_loaded
    assert model.model.dtype == torch.float32 and model.device.type == "cpu"  # no forced fp16 on CPU
    prompt = model.build_prompt([("Q1", "A1"), ("Q2", None)])
    assert prompt.startswith("A chat between a curious human")  # llava_v1, the template PULSE was trained with
    assert prompt.count("<image>") == 1 and prompt.endswith("USER: Q2 ASSISTANT:") and "A1</s>" in prompt


def test_batched_generation_matches_one_by_one(model):
    model.batch_size_per_gpu = 3
    batched = model.generate_until(gen_requests())
    model.batch_size_per_gpu = 1
    single = model.generate_until(gen_requests())
    assert batched == single and all(isinstance(t, str) for t in single)


def test_stop_strings_cut_the_answer():
    assert LlavaEcg._cut("NORM\n\nmore text", ["\n\n"]) == "NORM"
    assert LlavaEcg._generation_args({"max_new_tokens": 5, "temperature": 0, "until": "X"}) == (
        {"max_new_tokens": 5, "num_beams": 1, "use_cache": True, "do_sample": False}, ["X"])


def test_loglikelihood_equals_a_full_forward(model):
    conts = [" NORM", " ABNORMAL", " AF"]
    reqs = [Instance("loglikelihood", (QUESTIONS[0], c, visual, 0, "t", "test"), k, meta(0))
            for k, c in enumerate(conts)]
    scores = model.loglikelihood(reqs)
    prompt = model.build_prompt([(QUESTIONS[0], None)])
    n_prompt = len(model._encode(prompt))
    pixels, sizes = model._images([model.task_dict["t"]["test"][0]["image"]])
    for cont, (logp, greedy) in zip(conts, scores):
        ids = model._encode(prompt + cont).unsqueeze(0)
        with torch.no_grad():
            *_, embeds, _ = model.model.prepare_inputs_labels_for_multimodal(ids, None, None, None, None, pixels,
                                                                             image_sizes=sizes)
            logits = model.model(inputs_embeds=embeds).logits[0].float().log_softmax(-1)
        n_cont, width = ids.shape[1] - n_prompt, embeds.shape[1]
        expected = sum(logits[width - n_cont - 1 + j, ids[0, n_prompt + j]].item() for j in range(n_cont))
        assert logp == pytest.approx(expected, abs=1e-3) and isinstance(greedy, bool)


def test_multi_round_keeps_history_and_image_in_first_turn_only(model, monkeypatch):
    prompts = []
    original = model._generate

    def spy(batch_prompts, visuals, gen_args):
        prompts.extend(batch_prompts)
        assert all(len(v) == 1 for v in visuals)  # the image tensor goes with every turn; its marker only once
        return original(batch_prompts, visuals, gen_args)

    monkeypatch.setattr(model, "_generate", spy)

    def doc_to_text(doc, previous_output=None, round_idx=None, previous_round_info=None):
        if round_idx == 1:
            return None, "And the rate?", False, previous_output, {"seen": previous_output}
        return None, None, True, previous_output, previous_round_info

    args = ("What is the rhythm?", dict(GEN), visual, doc_to_text, 1, "t", "test")
    req = Instance("generate_until_multi_round", args, 0, meta(1))
    (answers,) = model.generate_until_multi_round([req])
    assert len(answers) == 2 and len(prompts) == 2
    assert prompts[1].count("<image>") == 1 and "What is the rhythm?" in prompts[1]
    assert f"ASSISTANT: {answers[0]}</s>USER: And the rate? ASSISTANT:" in prompts[1]


def test_bad_arguments_are_clear_errors(tmp_path, tiny_checkpoint):
    with pytest.raises(ValueError, match="no config.json"):
        LlavaEcg(pretrained=str(tmp_path))
    with pytest.raises(ValueError, match="conv_template 'nope'"):
        LlavaEcg(pretrained=str(tiny_checkpoint), conv_template="nope")
    with pytest.raises(ValueError, match="dtype 'int8'"):
        LlavaEcg(pretrained=str(tiny_checkpoint), dtype="int8")


def test_our_own_ecg_template_is_available_without_the_train_plugin(tiny_checkpoint, monkeypatch):
    from llava import conversation

    from llava_ecg.train.templates import ECG_SYSTEM_PROMPT

    monkeypatch.delitem(conversation.conv_templates, "ecg_v1", raising=False)  # a fresh lmms-eval process
    m = LlavaEcg(pretrained=str(tiny_checkpoint), conv_template="ecg_v1")
    assert m.build_prompt([("Rhythm?", None)]).startswith(ECG_SYSTEM_PROMPT)


def test_lora_checkpoint_with_model_base_is_merged(tiny_checkpoint, tmp_path):
    """A LoRA run folder as upstream ``llava.train`` writes it (adapter + non_lora_trainables.bin + config.json)."""
    from llava.model import LlavaLlamaForCausalLM
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    full = LlavaLlamaForCausalLM.from_pretrained(tiny_checkpoint)
    projector = {k: v.clone() for k, v in full.state_dict().items() if "mm_projector" in k}
    peft_model = get_peft_model(full, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                 lora_dropout=0.0, task_type="CAUSAL_LM"))
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:
            param.data.normal_(0, 0.05)  # B starts at zero: make the merge visible
    run = tmp_path / "checkpoint_run"  # neither "llava" nor "lora" in the name
    peft_model.save_pretrained(run)
    full.config.save_pretrained(run)
    torch.save({f"base_model.model.{k}": v for k, v in projector.items()}, run / "non_lora_trainables.bin")
    merged_q = peft_model.merge_and_unload().model.layers[0].self_attn.q_proj.weight.detach().clone()

    base_llm = tiny_checkpoint.parent / "base" / "llm"
    m = LlavaEcg(pretrained=str(run), model_base=str(base_llm))
    assert m._image_processor is not None
    loaded = m.model.state_dict()
    for key, value in projector.items():
        assert torch.allclose(loaded[key], value, atol=2e-3), key  # fp16 load in the builder, then fp32
    q = m.model.model.layers[0].self_attn.q_proj.weight
    assert torch.allclose(q, merged_q, atol=2e-3)
    m.task_dict = {"t": {"test": [{"image": ecg_image(0, (96, 48))}]}}
    (answer,) = m.generate_until(gen_requests()[:1])
    assert isinstance(answer, str)


def test_fast_greedy_gives_generates_tokens(model):
    """The fast path (no full-sequence logits) and upstream's ``generate`` choose the same tokens, batched."""
    from llava_ecg.eval.generation import generate_ids
    from llava_ecg.eval.greedy import greedy_ids, plain_greedy

    docs = model.task_dict["t"]["test"]
    ids = [model._encode(model.build_prompt([(q, None)])) for q in QUESTIONS]
    pixels, sizes = model._images([d["image"] for d in docs])
    for extra in ({}, {"min_new_tokens": 10}):  # stop at EOS as trained / forced past it (a random model's EOS)
        args = dict(do_sample=False, num_beams=1, max_new_tokens=10, use_cache=True, **extra)
        assert plain_greedy(model.model, args)
        reference = generate_ids(model.model, ids, model._pad_id, args, pixels=pixels, image_sizes=sizes)
        fast = greedy_ids(model.model, ids, model._pad_id, 10, pixels=pixels, image_sizes=sizes, **extra)
        # 4.37's generate, given embeddings, starts its output with a BOS column that decoding skips
        assert (reference[:, 0] == model.tokenizer.bos_token_id).all()
        assert fast.tolist() == reference[:, 1:].tolist()
    assert not plain_greedy(model.model, dict(do_sample=True, num_beams=1))
    model.fast = False
    try:
        reference = model.generate_until(gen_requests())
    finally:
        model.fast = True
    assert model.generate_until(gen_requests()) == reference
