"""ECGInstruct/LLaVA conversations -> the message lists of current training stacks.

One neutral form (:class:`Chat`: OpenAI-style roles, ``<image>`` placeholders in the text) is validated once and
then written in each stack's own row layout:

* LLaMA-Factory ``sharegpt`` with OpenAI-style tags and ms-swift's standard format: ``messages`` of
  ``{role, content: str}`` with one ``<image>`` per image in the user text, and ``images`` (paths, in order);
* TRL's vision SFT: ``messages`` whose ``content`` is a list of ``{type: "image"|"text", text}`` parts (an image
  part per image, where the ``<image>`` tag stood) and ``images``.

Roles: human -> user, gpt -> assistant, system -> system (only before the first question). The same repairs as the
LLaVA dataset (``dataset.normalise_conversations``): a leading answer and a trailing unanswered question are
dropped, ECG-QA's list answers are joined with ", ", an image row without ``<image>`` gets it before its first
question. Anything else that would make a stack's loader reject or mis-train the row is a :class:`RowSkip`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from llava_ecg.instruct.engine import IMAGE_TOKEN

FORMATS = ("llamafactory", "trl", "swift")
ROLES = {"human": "user", "gpt": "assistant", "system": "system"}
SKIP_REASONS = ("not_an_object", "malformed_conversation", "empty_conversation", "image_token_count",
                "missing_image", "unsafe_path", "unreadable_image", "unreadable_record", "render_failed")
REPAIRS = ("image_token_added", "leading_answer_dropped", "trailing_question_dropped", "list_answer_joined")


class RowSkip(Exception):
    """A row no stack can train on; ``reason`` is one of ``SKIP_REASONS``."""

    def __init__(self, reason: str, detail: str):
        assert reason in SKIP_REASONS, reason
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


@dataclass
class Chat:
    id: str
    messages: list[dict]  # [{role, content: str}], <image> placeholders in user turns
    image: str | None  # the row's image name (pre-rendered file, or where an on-the-fly page is written)
    render: dict | None  # on-the-fly render spec
    repairs: list[str] = field(default_factory=list)

    @property
    def has_image(self) -> bool:
        return self.image is not None or self.render is not None


def _text(value, repairs: list[str], where: str) -> str:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        repairs.append("list_answer_joined")
        return ", ".join(value)
    if not isinstance(value, str):
        raise RowSkip("malformed_conversation", f"{where}: value {value!r:.60} is not text")
    return value


def to_chat(row, index: int) -> Chat:
    """Validate one ECGInstruct-schema row (``index`` names it when it has no ``id``)."""
    if not isinstance(row, dict):
        raise RowSkip("not_an_object", f"row is a {type(row).__name__}, not an object")
    conv = row.get("conversations")
    if not isinstance(conv, list) or not conv:
        raise RowSkip("empty_conversation", "'conversations' missing, empty or not a list")
    repairs: list[str] = []
    messages = []
    for i, turn in enumerate(conv):
        if not isinstance(turn, dict) or turn.get("from") not in ROLES:
            raise RowSkip("malformed_conversation", f"conversations[{i}] is not {{from: human|gpt|system, value}}")
        messages.append({"role": ROLES[turn["from"]], "content": _text(turn.get("value"), repairs,
                                                                          f"conversations[{i}]")})
    system = []
    while messages and messages[0]["role"] == "system":
        system.append(messages.pop(0))
    if len(system) > 1:
        raise RowSkip("malformed_conversation", "more than one system turn")
    if messages and messages[0]["role"] == "assistant":
        messages.pop(0)
        repairs.append("leading_answer_dropped")
    for i, m in enumerate(messages):
        if m["role"] != ("user", "assistant")[i % 2]:
            raise RowSkip("malformed_conversation", f"turns do not alternate human/gpt (turn {i} is {m['role']})")
    if messages and messages[-1]["role"] == "user":
        messages.pop()
        repairs.append("trailing_question_dropped")
    if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        raise RowSkip("empty_conversation", "no non-empty answer to train on")
    image = row.get("image") if isinstance(row.get("image"), str) and row.get("image") else None
    render = row.get("render") if isinstance(row.get("render"), dict) and row.get("render") else None
    if row.get("render") is not None and render is None:
        raise RowSkip("malformed_conversation", "'render' is present but not a non-empty object")
    chat = Chat(str(row.get("id", f"row-{index}")), system + messages, image, render, repairs)
    _place_image_token(chat)
    return chat


def _place_image_token(chat: Chat) -> None:
    counts = [m["content"].count(IMAGE_TOKEN) for m in chat.messages]
    wrong = [i for i, m in enumerate(chat.messages) if counts[i] and m["role"] != "user"]
    if wrong:
        raise RowSkip("image_token_count", f"'<image>' in a {chat.messages[wrong[0]]['role']} turn")
    total = sum(counts)
    if not chat.has_image:
        if total:
            raise RowSkip("image_token_count", f"{total} '<image>' tag(s) but the row has no image")
        return
    if total > 1:
        raise RowSkip("image_token_count", f"{total} '<image>' tags for one image")
    if total == 0:
        first = next(m for m in chat.messages if m["role"] == "user")
        first["content"] = f"{IMAGE_TOKEN}\n{first['content']}"
        chat.repairs.append("image_token_added")


def sharegpt_row(chat: Chat, images: list[str]) -> dict:
    """LLaMA-Factory ``sharegpt`` (OpenAI-style tags) and ms-swift's standard row: text with ``<image>`` tags."""
    return {"messages": [dict(m) for m in chat.messages], "images": list(images)}


def content_parts(text: str) -> list[dict]:
    """``"<image>\\nWhat rhythm?"`` -> ``[{type: image}, {type: text, text: "What rhythm?"}]``: one image part per
    tag, the newline that LLaVA puts after a tag dropped (a chat template places its own separators)."""
    parts: list[dict] = []
    pieces = text.split(IMAGE_TOKEN)
    for k, piece in enumerate(pieces):
        if k > 0:
            parts.append({"type": "image", "text": None})
            piece = piece[1:] if piece.startswith("\n") else piece
        if k < len(pieces) - 1 and piece.endswith("\n"):
            piece = piece[:-1]
        if piece:
            parts.append({"type": "text", "text": piece})
    return parts


def trl_row(chat: Chat, images: list) -> dict:
    """TRL's vision SFT row: structured content parts (text and image parts share one Arrow struct type)."""
    return {"id": chat.id, "messages": [{"role": m["role"], "content": content_parts(m["content"])}
                                        for m in chat.messages], "images": list(images)}
