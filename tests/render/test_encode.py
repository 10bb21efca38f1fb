import io

from PIL import Image

from llava_ecg.render import RenderSpec, encode, encode_image, preferred_format, render, save


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

    import numpy as np

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
    assert fast_s < pillow_s / 1.5, (fast_s, pillow_s)  # measured ~3x
