import io

import numpy as np
import pytest
from PIL import Image

from llava_ecg.render import RenderSpec, encode, encode_image, preferred_format, render, render_page, save


def test_clean_pages_are_palette_png_and_small(sinus):
    image = render(sinus)
    assert image.mode == "P" and preferred_format(image) == "png"
    data = encode(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    decoded = Image.open(io.BytesIO(data))
    assert decoded.mode == "P" and decoded.size == (2200, 1700)
    assert len(data) < 600_000  # an RGB PNG of the same page is several times larger


def test_distorted_pages_are_jpeg(sinus, tmp_path):
    image = render(sinus, distort="light", seed=1, dpi=100)
    assert image.mode == "RGB" and preferred_format(image) == "jpg"
    assert encode(image)[:2] == b"\xff\xd8"
    path = save(image, tmp_path / "sub" / "x.jpg")
    assert Image.open(path).format == "JPEG"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp file left behind


def test_encode_image_follows_the_spec(sinus):
    image = render(sinus, dpi=50)
    assert encode_image(image, RenderSpec(format="jpg"))[:2] == b"\xff\xd8"
    assert encode_image(image, {"format": "png"})[:4] == b"\x89PNG"


def test_distorted_png_is_lossless_rgb_and_fast_to_write(sinus):
    import time

    image = render(sinus, distort="heavy", seed=2)
    start = time.process_time()
    fast = encode(image, "png")
    fast_s = time.process_time() - start
    start = time.process_time()
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=3)  # what this path used before
    pillow_s = time.process_time() - start
    decoded = Image.open(io.BytesIO(fast))
    assert decoded.mode == "RGB" and np.array_equal(np.asarray(decoded), np.asarray(image))  # lossless
    assert len(fast) < 1.1 * len(buf.getvalue())
    from llava_ecg.render import png

    margin = 3 if png.igzip_lib is not None else 1.5  # measured ~15x with ISA-L, ~3.4x with zlib alone
    assert fast_s < pillow_s / margin, (fast_s, pillow_s)


@pytest.mark.parametrize("deflate", ["isal", "zlib"])
@pytest.mark.parametrize("shape", [(1, 1, 3), (7, 5, 3), (33, 17), (2, 300, 3)])
def test_png_writer_round_trips_exactly(shape, deflate, monkeypatch):
    from llava_ecg.render import png

    if deflate == "zlib":
        monkeypatch.setattr(png, "isal_zlib", None)
        monkeypatch.setattr(png, "igzip_lib", None)
    elif png.igzip_lib is None:
        pytest.skip("isal not installed")
    pixels = np.random.default_rng(len(shape)).integers(0, 256, shape, dtype=np.uint8)
    pixels[0] = 255  # a bright first row: the Up filter must wrap mod 256 below it
    data = png.encode_png(pixels)
    decoded = Image.open(io.BytesIO(data))
    decoded.load()  # checks every chunk CRC and the zlib stream
    assert decoded.mode == ("RGB" if len(shape) == 3 else "L")
    assert np.array_equal(np.asarray(decoded), pixels)
    with pytest.raises(ValueError, match="8-bit grey or RGB"):
        png.encode_png(pixels.astype(np.uint16))


def test_a_distorted_result_encodes_to_the_bytes_of_its_image(sinus):
    """``RenderResult.encode`` skips the PIL copy (OpenCV's libjpeg-turbo for JPEG) yet writes the same bytes."""
    result = render_page(sinus, distort="heavy", seed=4, dpi=100)
    assert result.pixels is not None and np.array_equal(result.pixels, np.asarray(result.image))
    for fmt in ("jpg", "png"):
        assert result.encode(fmt) == encode(result.image, fmt)
    assert render_page(sinus, dpi=100).pixels is None  # clean pages stay palette images


def test_palette_pages_convert_to_the_same_rgb_as_pillow(sinus):
    from llava_ecg.render.api import palette_to_rgb

    for grid in ("red", "bw", "none"):
        page = render(sinus, dpi=100, grid=grid)
        assert np.array_equal(palette_to_rgb(page), np.asarray(page.convert("RGB")))


def test_render_processes_reuse_freed_memory():
    """A distorted 2200x1700 page faulted in ~8k fresh pages (~40 ms of system time) before the pool kept them."""
    import subprocess
    import sys

    code = """if True:
        import resource
        from llava_ecg.render import render_page
        from llava_ecg.render.pool import retain_freed_memory
        from llava_ecg.signals.synthetic import synthesize
        ecg = synthesize("sinus", fs=500, seed=1)
        def faults(seed):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            render_page(ecg, distort="heavy", seed=seed, format="png").encode()
            return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
        faults(0)
        plain = faults(1)
        if not retain_freed_memory():
            print("skip")
        faults(0)
        print(plain, faults(1))
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    if out[0] == "skip":
        pytest.skip("not glibc: mallopt unavailable")
    plain, kept = map(int, out)
    assert kept < 1000 < plain, (plain, kept)
