"""A disk cache of ECG-Image-Kit pages, keyed by record content and render settings, filled resumably.

    from eik_cache import EikCache                      # with benchmarks/eik on sys.path
    cache = EikCache("~/.cache/llava-ecg/eik-pages", dpi=200)
    paths = cache.fill([(key, ecg), ...], workers=2)    # renders what is missing, returns one PNG path per record

Layout: ``ROOT/<settings>/<key>-<digest>.png`` where ``<settings>`` names the render options and the
ECG-Image-Kit commit (``dpi200-3x4-II-seed0-27b90f56896c``) and ``<digest>`` is a hash of the record's samples,
so a changed synthetic generator never reuses a stale page. Every page is written atomically by
``render_eik.py``; an interrupted fill keeps what it finished and the next call renders only the rest, in chunks
(a page costs ~1.2-2 s of CPU), interleaved so that a partial cache stays balanced over the input order.
"""
from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import eik_ref

CHUNK = 16


def record_digest(ecg) -> str:
    import numpy as np

    h = hashlib.sha256(np.ascontiguousarray(ecg.signal, dtype=np.float32).tobytes())
    h.update(f"{ecg.fs}|{','.join(ecg.leads)}".encode())
    return h.hexdigest()[:10]


class EikCache:
    def __init__(self, root, *, dpi: int = 200, layout: str = "3x4", rhythm: bool = True, seed: int = 0,
                 nice: int = 10, **options):
        self.root = Path(os.path.expanduser(str(root)))
        self.opts = {"dpi": dpi, "layout": layout, "rhythm": rhythm, "seed": seed, **options}
        self.nice = nice
        commit = next(iter(sorted(p.name for p in eik_ref.eik_home().glob(".ready-*"))), ".ready-unknown")
        extra = "".join(f"-{k}{v}" for k, v in sorted(options.items()))
        self.dir = self.root / f"dpi{dpi}-{layout}-{'II' if rhythm else 'none'}-seed{seed}{extra}-{commit[7:19]}"

    def path(self, key: str, ecg) -> Path:
        return self.dir / f"{key}-{record_digest(ecg)}.png"

    def missing(self, records) -> list[tuple[str, object]]:
        return [(k, e) for k, e in records if not self.path(k, e).exists()]

    def fill(self, records, *, workers: int = 1, progress: bool = True) -> list[Path] | None:
        """PNG paths of ``records`` ((key, ecg) pairs), rendering the missing ones; None without ECG-Image-Kit."""
        records = list(records)
        todo = self.missing(records)
        if todo and not eik_ref.available(setup=True):
            return None
        staging = self.dir / "records"
        wfdb = [eik_ref.write_for_eik(ecg, staging / f"{key}-{record_digest(ecg)}") for key, ecg in todo]
        chunks = [wfdb[i:i + CHUNK] for i in range(0, len(wfdb), CHUNK)]
        done, t0 = 0, time.time()

        def run(chunk):
            eik_ref.render(chunk, self.dir, nice=self.nice, **self.opts)
            return len(chunk)

        with ThreadPoolExecutor(max(1, workers)) as pool:
            for n in pool.map(run, chunks):
                done += n
                if progress:
                    rate = (time.time() - t0) / done
                    print(f"  ECG-Image-Kit: {done}/{len(wfdb)} pages, {rate:.1f} s/page wall, "
                          f"~{rate * (len(wfdb) - done) / 60:.0f} min left", flush=True)
        for p in wfdb:
            for suffix in (".hea", ".dat"):
                p.with_suffix(suffix).unlink(missing_ok=True)
        paths = [self.path(k, e) for k, e in records]
        lost = [p.name for p in paths if not p.exists()]
        if lost:
            raise RuntimeError(f"ECG-Image-Kit wrote no page for {len(lost)} record(s), e.g. {lost[:3]} in {self.dir}")
        return paths
