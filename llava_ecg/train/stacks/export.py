"""``llava-ecg export-data``: ECGInstruct-schema rows -> LLaMA-Factory, TRL or ms-swift training data, streaming.

Rows are read one at a time (``llava_ecg.instruct.io.iter_rows``: the 1.34 GB ``ECGInstruct.json`` as is, or a
build's JSONL) and handled in chunks of ``chunk_rows``: the chunk's on-the-fly pages that are not on disk yet are
drawn in ``workers`` processes (the render stage's pool) and written atomically under ``OUT/images/`` with the row's
own image name and seed (the very file ``build instruct --render`` writes); then the chunk's rows are appended to
the output. Memory therefore stays at one chunk, whatever the number of rows. A killed export resumes: pages
already on disk are reused, and the (cheap) text pass is redone; every output file appears only when complete.

What it writes, per format (``-o OUT``, ``--name NAME``, default ``ecginstruct``):

* ``llamafactory``: ``OUT/NAME.jsonl`` and ``OUT/dataset_info.json`` (an existing one gets the entry added);
* ``swift``: ``OUT/NAME.jsonl``;
* ``trl``: ``OUT/NAME/`` — an HF dataset (``datasets.load_from_disk``) with ``id``, ``messages`` and ``images``
  (``Image`` features holding the file paths; ``embed_images`` stores the bytes instead);
* all: ``OUT/NAME.manifest.jsonl`` (per written row: the source row number, id and image path — the 1:1 map back
  to the input) and ``OUT/export_summary.json`` (rows read, written, skipped by reason with examples, repairs,
  pages drawn and reused).

Image paths are absolute (every stack then finds them from any working directory), except pre-rendered images
given without ``image_root``: their paths stay as in the rows (relative to your image root; see docs/training.md).
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from llava_ecg.atomic import atomic_open, write_json
from llava_ecg.errors import LlavaEcgError
from llava_ecg.instruct.io import dumps_row, iter_rows

from ..pages import CorruptSample, DataConfigError, image_file, record_path
from ..rows import UnsafePathError, resolve_under
from .convert import FORMATS, REPAIRS, Chat, RowSkip, sharegpt_row, to_chat, trl_row

MAX_EXAMPLES = 20


class ExportError(LlavaEcgError):
    """The export cannot proceed; the message names the file (and row) and the problem."""


@dataclass
class ExportSummary:
    format: str
    input: str
    output: str
    rows_read: int = 0
    rows_written: int = 0
    image_rows: int = 0
    text_only_rows: int = 0
    pages_drawn: int = 0
    pages_reused: int = 0
    skipped: Counter = field(default_factory=Counter)
    repairs: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    files: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["skipped"], d["repairs"] = dict(self.skipped), dict(self.repairs)
        d["rows_skipped"] = sum(self.skipped.values())
        return d

    def text(self) -> str:
        lines = [f"export-data {self.format}: {self.rows_written} of {self.rows_read} rows written "
                 f"({self.image_rows} with an image, {self.text_only_rows} text-only) in {self.seconds:.1f} s"]
        if self.pages_drawn or self.pages_reused:
            lines.append(f"  pages: {self.pages_drawn} drawn, {self.pages_reused} already on disk")
        if self.skipped:
            lines.append(f"  skipped {sum(self.skipped.values())}: "
                         + ", ".join(f"{r} {n}" for r, n in self.skipped.most_common()))
            lines += [f"    {e}" for e in self.examples[:5]]
        if self.repairs:
            lines.append("  repaired: " + ", ".join(f"{r} {n}" for r, n in self.repairs.most_common()))
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  {k}: {v}" for k, v in self.files.items()]
        return "\n".join(lines)


def _page_name(chat: Chat) -> str:
    if chat.image:
        return chat.image
    fmt = str(chat.render.get("format") or "png")
    return f"{chat.id}.{fmt}"


def _draw(job: tuple) -> tuple[str, tuple[str, str] | None]:
    """One on-the-fly page to ``dest`` (pool worker). Failures come back as (reason, detail), never raised."""
    spec, records_root, dest, what = job
    try:
        from llava_ecg.atomic import write_bytes
        from llava_ecg.render import RenderSpec, render_page
        from llava_ecg.signals import read_record

        spec = dict(spec)
        path = record_path(spec, records_root, what)
        spec.pop("record", None)
        source = spec.pop("source", None)
        try:
            ecg = read_record(path, source=source)
        except (ValueError, OSError, KeyError) as exc:
            return dest, ("unreadable_record", f"{path}: {exc}")
        try:
            data = render_page(ecg, RenderSpec.from_dict(spec)).encode()
        except Exception as exc:  # one bad record must not end a long export
            return dest, ("render_failed", f"{path}: {type(exc).__name__}: {exc}")
        write_bytes(dest, data)
        return dest, None
    except CorruptSample as exc:
        return dest, (exc.reason, exc.detail)
    except DataConfigError as exc:
        return dest, ("config", str(exc))


class _Exporter:
    def __init__(self, rows, out, fmt, *, name, image_root, records_root, workers, chunk_rows, strict, progress,
                 embed_images):
        self.rows_path, self.out, self.fmt, self.name = Path(rows), Path(out), fmt, name
        self.image_root = Path(image_root).resolve() if image_root else None
        self.records_root = Path(records_root).resolve() if records_root else None
        self.workers, self.chunk_rows, self.strict = workers, chunk_rows, strict
        self.progress, self.embed_images = progress, embed_images
        self.pages_dir = (self.out / "images").resolve()
        self.summary = ExportSummary(fmt, str(self.rows_path), str(self.out))
        self._relative_images = False

    # -- rows ---------------------------------------------------------------------------------------
    def skip(self, index: int, row_id, reason: str, detail: str) -> None:
        where = f"{self.rows_path}: row {index}" + (f" (id {row_id!r})" if row_id is not None else "")
        if self.strict:
            raise ExportError(f"{where}: {reason}: {detail}")
        self.summary.skipped[reason] += 1
        if len(self.summary.examples) < MAX_EXAMPLES:
            self.summary.examples.append(f"{where}: {reason}: {detail}")

    def chunks(self) -> Iterator[list[tuple[int, Chat]]]:
        chunk: list[tuple[int, Chat]] = []
        for index, row in enumerate(iter_rows(self.rows_path)):
            self.summary.rows_read += 1
            try:
                chat = to_chat(row, index)
            except RowSkip as exc:
                self.skip(index, row.get("id") if isinstance(row, dict) else None, exc.reason, exc.detail)
                continue
            chunk.append((index, chat))
            if len(chunk) >= self.chunk_rows:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    # -- images -------------------------------------------------------------------------------------
    def image_path(self, chat: Chat) -> str:
        """Where a pre-rendered row's image is (a page of an on-the-fly row: see ``draw_pages``)."""
        if self.image_root is None:
            if self.fmt == "trl":
                raise DataConfigError(f"{self.rows_path}: rows name pre-rendered images; TRL's dataset stores "
                                      "their files, so --image-root is needed")
            self._relative_images = True
            return chat.image
        return self._image_file(chat.image)

    @functools.lru_cache(maxsize=1 << 16)  # noqa: B019 (one exporter per run) ECGInstruct has ~8 rows per image
    def _image_file(self, image: str) -> str:
        return str(image_file(image, self.image_root, str(self.rows_path)))

    def draw_pages(self, chunk: list[tuple[int, Chat]]) -> dict[str, tuple[str, str] | None]:
        """Draw the chunk's missing pages; returns dest -> None (ok) or (reason, detail)."""
        from llava_ecg.render.pool import process_map

        status: dict[str, tuple[str, str] | None] = {}
        jobs = []
        for _, chat in chunk:
            if chat.render is None:
                continue
            try:
                dest = str(resolve_under(self.pages_dir, _page_name(chat), what="image"))
            except UnsafePathError:
                continue  # resolve() skips the row with the reason
            if dest in status:
                continue
            if os.path.exists(dest):
                status[dest] = None
                self.summary.pages_reused += 1
            else:
                status[dest] = ("pending", "")
                jobs.append((chat.render, str(self.records_root) if self.records_root else None, dest,
                             str(self.rows_path)))
        workers = max(1, min(self.workers, len(jobs)))
        for dest, failure in process_map(_draw, jobs, workers=workers, ordered=False):
            if failure and failure[0] == "config":
                raise DataConfigError(failure[1])
            status[dest] = failure
            self.summary.pages_drawn += failure is None
        return status

    def resolve(self, chunk) -> Iterator[tuple[int, Chat, list[str]]]:
        status = self.draw_pages(chunk) if any(c.render is not None for _, c in chunk) else {}
        for index, chat in chunk:
            try:
                if chat.render is not None:
                    try:
                        dest = str(resolve_under(self.pages_dir, _page_name(chat), what="image"))
                    except UnsafePathError as exc:
                        raise CorruptSample("unsafe_path", str(exc)) from exc
                    failure = status.get(dest)
                    if failure:
                        raise CorruptSample(*failure)
                    images = [dest]
                elif chat.image is not None:
                    images = [self.image_path(chat)]
                else:
                    images = []
            except CorruptSample as exc:
                self.skip(index, chat.id, exc.reason, exc.detail)
                continue
            yield index, chat, images

    # -- writing ------------------------------------------------------------------------------------
    def converted(self, manifest) -> Iterator[dict]:
        from tqdm.auto import tqdm

        bar = tqdm(desc=f"export {self.fmt}", unit="row", disable=not self.progress)
        try:
            for chunk in self.chunks():
                for index, chat, images in self.resolve(chunk):
                    s = self.summary
                    s.rows_written += 1
                    s.image_rows += bool(images)
                    s.text_only_rows += not images
                    s.repairs.update(chat.repairs)
                    manifest.write(dumps_row({"row": index, "id": chat.id, "images": images}) + "\n")
                    yield self.row(chat, images)
                bar.update(len(chunk))
        finally:
            bar.close()

    def row(self, chat: Chat, images: list[str]) -> dict:
        if self.fmt != "trl":
            return sharegpt_row(chat, images)
        if self.embed_images:
            return trl_row(chat, [{"bytes": Path(p).read_bytes(), "path": None} for p in images])
        return trl_row(chat, [{"bytes": None, "path": p} for p in images])

    def run(self) -> ExportSummary:
        created = not self.out.exists()
        try:
            return self._run()
        except Exception:
            # bad input leaves nothing behind; pages already drawn stay for the rerun to reuse
            if created and not any(self.pages_dir.glob("*")):
                shutil.rmtree(self.out, ignore_errors=True)
            raise

    def _run(self) -> ExportSummary:
        start = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        manifest_path = self.out / f"{self.name}.manifest.jsonl"
        with atomic_open(manifest_path) as manifest:
            if self.fmt == "trl":
                target = self.write_hf(self.converted(manifest))
            else:
                target = self.out / f"{self.name}.jsonl"
                with atomic_open(target) as fh:
                    for row in self.converted(manifest):
                        fh.write(dumps_row(row) + "\n")
        s = self.summary
        if s.rows_written == 0:
            for path in (manifest_path, target):
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            raise ExportError(f"{self.rows_path}: no row could be exported ({s.rows_read} read; "
                              + (", ".join(f"{r} {n}" for r, n in s.skipped.most_common()) or "the file is empty")
                              + (f"; first: {s.examples[0]}" if s.examples else "") + ")")
        s.files = {"data": str(target), "manifest": str(manifest_path)}
        if self.fmt == "llamafactory":
            s.files["dataset_info"] = str(self.write_dataset_info(target))
        if s.pages_drawn or s.pages_reused:
            s.files["images"] = str(self.pages_dir)
        if self._relative_images:
            s.notes.append("pre-rendered image paths are kept relative as in the rows (no --image-root): set "
                           "LLaMA-Factory's media_dir / ms-swift's ROOT_IMAGE_DIR to your image root")
        s.seconds = round(time.perf_counter() - start, 2)
        s.files["summary"] = str(self.out / "export_summary.json")
        write_json(self.out / "export_summary.json", s.as_dict(), indent=1)
        return s

    def write_hf(self, rows: Iterator[dict]) -> Path:
        """``Dataset.from_generator`` (Arrow written in batches: memory stays flat) -> ``save_to_disk``; the
        folder replaces an earlier one only when complete."""
        try:
            import datasets
        except ImportError as exc:
            raise ExportError("--format trl needs the 'datasets' package (pip install datasets)") from exc
        if not self.progress:
            datasets.disable_progress_bars()
        text = datasets.Value("string")
        part = {"type": text, "text": text}
        features = datasets.Features({
            "id": text,
            "messages": [{"role": text, "content": [part]}],  # a list literal: a list of structs in any version
            "images": [datasets.Image()],
        })
        target = self.out / self.name
        work = self.out / f".{self.name}.partial"
        shutil.rmtree(work, ignore_errors=True)
        handle = _RowsHandle(rows)
        try:
            try:
                ds = datasets.Dataset.from_generator(_drain, gen_kwargs={"handle": handle}, features=features,
                                                     cache_dir=str(work / "cache"), keep_in_memory=False)
            except Exception as exc:  # datasets wraps what the rows raised (our typed errors included)
                cause = exc.__cause__ or exc.__context__
                if isinstance(cause, LlavaEcgError):
                    raise cause from None
                raise
            ds.save_to_disk(str(work / "dataset"))
            del ds
            if target.exists():
                shutil.rmtree(target)
            os.replace(work / "dataset", target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            _HANDLES.pop(handle.key, None)
        return target

    def write_dataset_info(self, data_file: Path) -> Path:
        path = self.out / "dataset_info.json"
        info = {}
        if path.is_file():
            try:
                info = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ExportError(f"{path}: exists but is not valid JSON ({exc}); move it away or fix it") from None
            if not isinstance(info, dict):
                raise ExportError(f"{path}: exists but is not a JSON object of dataset entries")
        info[self.name] = dataset_info_entry(data_file.name)
        write_json(path, info, indent=2, ensure_ascii=False)
        return path


_HANDLES: dict[str, Iterator[dict]] = {}


class _RowsHandle:
    """Stands for a row generator in ``from_generator``'s ``gen_kwargs``: datasets pickles them for its cache
    fingerprint, and a generator cannot be pickled. A fresh key per export, so no cached dataset is reused."""

    def __init__(self, rows: Iterator[dict]):
        import uuid

        self.key = uuid.uuid4().hex
        _HANDLES[self.key] = rows

    def __reduce__(self):
        return (_handle, (self.key,))


def _handle(key: str):
    return _HANDLES[key]


def _drain(handle):
    yield from (_HANDLES[handle.key] if isinstance(handle, _RowsHandle) else handle)


def dataset_info_entry(file_name: str) -> dict:
    """LLaMA-Factory's ``dataset_info.json`` entry for a ``sharegpt`` file with OpenAI-style messages."""
    return {"file_name": file_name, "formatting": "sharegpt",
            "columns": {"messages": "messages", "images": "images"},
            "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                     "assistant_tag": "assistant", "system_tag": "system"}}


def export_data(rows, out, fmt: str, *, name: str = "ecginstruct", image_root=None, records_root=None,
                workers: int = 1, chunk_rows: int = 2048, strict: bool = False, progress: bool = True,
                embed_images: bool = False) -> ExportSummary:
    """Write ``rows`` (JSON array or JSONL of ECGInstruct-schema rows) in ``fmt`` (one of ``FORMATS``) to ``out``."""
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if not Path(rows).is_file():
        raise ExportError(f"{rows}: no such file")
    if not name or "/" in name or name.startswith("."):
        raise ExportError(f"--name {name!r}: a plain file name is needed")
    exporter = _Exporter(rows, out, fmt, name=name, image_root=image_root, records_root=records_root,
                         workers=workers, chunk_rows=chunk_rows, strict=strict, progress=progress,
                         embed_images=embed_images)
    return exporter.run()


__all__ = ["ExportError", "ExportSummary", "FORMATS", "REPAIRS", "dataset_info_entry", "export_data"]
