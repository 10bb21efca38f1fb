"""Pixel statistics of our ``eik`` page and ECG-Image-Kit's page of the same record, at 200 dpi and at the model's
input (the 672 x 672 anyres grid): grey-level histograms, trace cross-section profiles, grid power spectra.

    .venv/bin/python benchmarks/eik/pixel_stats.py --cache DIR [-o docs/img/eik_pixel_stats.png] [--records 8]

Uses ECG-Image-Kit pages already in the cache of ``benchmarks/transfer.py`` (test records, 200 dpi, clean 3x4);
prints the summary figures (trace width at half darkness, peak darkness, grid line contrast) as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]


def grey(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def trace_profile(rgb: np.ndarray, half: int) -> np.ndarray:
    """Mean darkness (255 - grey) across the trace, centred on its darkest pixel, over the rhythm strip's columns
    where the trace runs flat (a near-vertical stroke has no cross-section along a column)."""
    g = grey(rgb)
    ink = (np.abs(rgb[..., 0].astype(int) - rgb[..., 1].astype(int)) < 40) & (g < 200)  # grey trace, not the grid
    h, w = g.shape
    band = slice(int(h * 0.80), int(h * 0.97))  # the lead II strip
    profiles = []
    for x in range(int(w * 0.15), int(w * 0.9)):
        col = np.where(ink[band, x])[0]
        if col.size == 0 or col.max() - col.min() > 2 * half:  # steep here
            continue
        y = band.start + col[np.argmin(g[band, x][col])]
        if y - half < 0 or y + half + 1 > h:
            continue
        profiles.append(255.0 - g[y - half:y + half + 1, x])
    return np.mean(profiles, axis=0) if profiles else np.zeros(2 * half + 1)


def fwhm(profile: np.ndarray) -> float:
    base = np.median(np.r_[profile[:2], profile[-2:]])
    p = profile - base
    above = p >= p.max() / 2
    return float(above.sum())


def grid_spectrum(rgb: np.ndarray) -> np.ndarray:
    """Power spectrum along x of the green channel (grid lines are red: dark in green) over the page's empty top
    band, mean over rows, normalised to the DC term."""
    g = rgb[int(rgb.shape[0] * 0.03):int(rgb.shape[0] * 0.12), :, 1].astype(np.float32)
    spec = np.abs(np.fft.rfft(g - g.mean(), axis=1)) ** 2
    return spec.mean(axis=0) / (g.var() * g.shape[1] + 1e-9)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("-o", "--out", type=Path, default=Path("docs/img/eik_pixel_stats.png"))
    ap.add_argument("--records", type=int, default=8)
    args = ap.parse_args(argv)
    from PIL import Image

    from eik_cache import EikCache
    from llava_ecg.render.api import render_rgb
    from transfer import anyres
    from transfer_records import TEST_OFFSET, records

    cache = EikCache(args.cache, dpi=200)
    pre = anyres()
    pages = {"ours eik": [], "ECG-Image-Kit": []}
    for key, _, ecg in records(-(-args.records // 4), TEST_OFFSET):
        path = cache.path(key, ecg)
        if not path.exists():
            continue
        with Image.open(path) as im:
            pages["ECG-Image-Kit"].append(np.asarray(im.convert("RGB")))
        pages["ours eik"].append(render_rgb(ecg, style="eik", dpi=200, paper="letter", seed=1))
    if not pages["ours eik"]:
        sys.exit(f"pixel_stats: no cached ECG-Image-Kit test page under {cache.dir}; run benchmarks/transfer.py")

    def model_view(rgb):  # the 672 x 672 grid of tiles, reassembled (rows 0..518 hold the page)
        t = pre.uint8(rgb).numpy()[1:]
        return np.concatenate([np.concatenate([t[0], t[1]], 2), np.concatenate([t[2], t[3]], 2)], 1).transpose(1, 2, 0)

    stats, curves = {}, {}
    for name, imgs in pages.items():
        views = [model_view(p) for p in imgs]
        hist = np.mean([np.bincount(grey(p).astype(np.uint8).ravel(), minlength=256) / p[..., 0].size
                        for p in imgs], 0)
        prof = np.mean([trace_profile(p, 6) for p in imgs], 0)
        prof_m = np.mean([trace_profile(v[:519], 3) for v in views], 0)
        spec = np.mean([grid_spectrum(p) for p in imgs], 0)
        curves[name] = (hist, prof, prof_m, spec)
        g = grey(imgs[0])[int(imgs[0].shape[0] * 0.03):int(imgs[0].shape[0] * 0.12)]
        stats[name] = {"trace_fwhm_px_200dpi": fwhm(prof), "trace_peak_darkness_200dpi": float(prof.max()),
                       "trace_fwhm_px_model": fwhm(prof_m), "trace_peak_darkness_model": float(prof_m.max()),
                       "trace_ink_sum_200dpi": float((prof - np.median(prof[[0, -1]])).clip(0).sum()),
                       "paper_grey_mean": float(g.mean()), "paper_grey_p1": float(np.percentile(g, 1)),
                       "dark_share_lt128": float(hist[:128].sum())}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 4, figsize=(16, 3.6))
    for name, (hist, prof, prof_m, spec) in curves.items():
        ax[0].semilogy(hist, label=name)
        ax[1].plot(np.arange(prof.size) - prof.size // 2, prof, marker=".", label=name)
        ax[2].plot(np.arange(prof_m.size) - prof_m.size // 2, prof_m, marker=".", label=name)
        f = np.arange(spec.size) / (2 * (spec.size - 1)) * 200 / 25.4  # cycles per mm at 200 dpi
        ax[3].semilogy(f, spec, label=name, lw=0.8)
    ax[0].set(title="grey-level histogram (200 dpi page)", xlabel="grey (0 = black)", ylabel="share of pixels")
    ax[1].set(title="trace cross-section, 200 dpi", xlabel="px from trace centre", ylabel="darkness (255 - grey)")
    ax[2].set(title="trace cross-section at the model's input", xlabel="px (672 grid)", ylabel="darkness")
    ax[3].set(title="grid power spectrum (x, green)", xlabel="cycles / mm", xlim=(0, 2.2))
    for a in ax:
        a.legend(fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(json.dumps({"pages": len(pages["ours eik"]), **stats}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
