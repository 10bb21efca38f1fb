"""A tiny random ``LlavaForConditionalGeneration`` + processor, built offline and saved to a folder.

For lmms-eval's ``llava_hf`` chat model in the eval-only venv (current transformers): a word-level tokenizer made
in-process, a 16-px CLIP image processor, one-layer CLIP and Llama configs, and a chat template that renders
lmms-eval's ``{"type": "image"}`` / ``{"type": "text"}`` content parts.
"""
from __future__ import annotations

from pathlib import Path

WORDS = ("USER ASSISTANT : . , ? the ECG of and is a in to with this image rhythm sinus normal answer A B C D E F G H "
         "NORM AF MI STTC CD HYP lead yes no").split()
CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}USER: {% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>\n{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %} "
    "{% else %}ASSISTANT: {% for c in m['content'] %}{{ c['text'] }}{% endfor %}</s>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}")


def build_tiny_llava_hf(out: Path, words=()) -> Path:
    """``words``: more vocabulary (e.g. the words of training rows), so that text is not all ``<unk>``."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor, PreTrainedTokenizerFast)

    out = Path(out)
    specials = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
    vocab = {token: i for i, token in enumerate(specials + sorted(set(WORDS) | set(words) - set(specials)))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                        pad_token="<pad>", additional_special_tokens=["<image>"])
    image_processor = CLIPImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=8,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               chat_template=CHAT_TEMPLATE)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                       num_attention_heads=2, image_size=16, patch_size=8, projection_dim=16),
        text_config=LlamaConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
                                bos_token_id=1, eos_token_id=2, pad_token_id=3),
        image_token_index=vocab["<image>"], vision_feature_select_strategy="default", vision_feature_layer=-1)
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = 3
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
