"""Real-world image files decode to the RGB image a person would see, or are skipped with a reason."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hubselect.data.decode import CORRUPT, TOO_LARGE, TOO_SMALL, TRUNCATED, DecodedImage, Skip, decode_image
from hubselect.errors import InputError
from hubselect.testing.tiny import encode, png16_bytes


def _decoded(data: bytes, **kwargs) -> DecodedImage:
    result = decode_image(data, source="x", **kwargs)
    assert isinstance(result, DecodedImage), result
    assert result.image.mode == "RGB"
    return result


def test_cmyk_jpeg_becomes_rgb_with_the_right_colours():
    image = Image.new("RGB", (32, 24), (200, 30, 40)).convert("CMYK")
    pixel = _decoded(encode(image, "JPEG", quality=95)).image.getpixel((16, 12))
    assert abs(pixel[0] - 200) < 12 and pixel[1] < 60 and pixel[2] < 70


@pytest.mark.parametrize("rgb", [False, True], ids=["gray16", "rgb16"])
def test_16_bit_png_is_scaled_not_clipped_to_white(rgb):
    ramp = np.linspace(0, 65535, 40 * 30).reshape(30, 40).astype(np.uint16)
    array = np.stack([ramp] * 3, axis=-1) if rgb else ramp
    result = np.asarray(_decoded(png16_bytes(array)).image)
    assert result.min() <= 2 and result.max() >= 253
    assert 100 < result.mean() < 155  # a ramp, not a white or black image


def test_a_dark_16_bit_png_stays_dark():
    """Values below 256 of 16 bits are near black: they were taken for 8-bit data (255 became white,
    256 near black), so a dark scan decoded brighter than a lighter one."""
    for value, expected in ((100, 0), (255, 1), (256, 1), (1000, 4), (65535, 255)):
        pixel = _decoded(png16_bytes(np.full((16, 16), value, np.uint16))).image.getpixel((0, 0))
        assert pixel == (expected,) * 3, value


def test_transparency_is_composited_on_white():
    rgba = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 10, 20))
    result = _decoded(encode(rgba, "PNG")).image
    assert result.getpixel((15, 10)) == (255, 255, 255)  # fully transparent -> white, not red or black
    assert result.getpixel((5, 10)) == (0, 0, 255)

    palette = Image.new("P", (16, 16), 0)
    palette.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    palette.paste(1, (0, 0, 8, 16))
    result = _decoded(encode(palette, "PNG", transparency=0)).image
    assert result.getpixel((12, 8)) == (255, 255, 255) and result.getpixel((4, 8)) == (0, 255, 0)


def test_grayscale_and_la_images_become_rgb():
    assert _decoded(encode(Image.new("L", (16, 16), 90), "PNG")).image.getpixel((0, 0)) == (90, 90, 90)
    assert _decoded(encode(Image.new("LA", (16, 16), (90, 255)), "PNG")).image.getpixel((0, 0)) == (90, 90, 90)


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 20, 20))  # white left half
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    decoded = _decoded(encode(image, "JPEG", exif=exif.tobytes(), quality=95))
    assert (decoded.width, decoded.height) == (20, 40)
    assert decoded.image.getpixel((10, 5))[0] > 200 and decoded.image.getpixel((10, 35))[0] < 50


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00not an image at all" * 50, CORRUPT),
        (b"", CORRUPT),
        (encode(Image.new("RGB", (64, 64), (1, 2, 3)), "PNG")[:60], TRUNCATED),
        (encode(Image.effect_noise((64, 64), 50).convert("RGB"), "JPEG")[:400], TRUNCATED),
        (encode(Image.new("RGB", (4, 100)), "PNG"), TOO_SMALL),
    ],
    ids=["garbage", "empty", "truncated-png", "truncated-jpeg", "tiny"],
)
def test_broken_files_are_skipped_with_a_reason(data, reason):
    result = decode_image(data, source="bad.png")
    assert isinstance(result, Skip) and result.reason == reason
    assert str(result).startswith("bad.png: ")


def test_something_that_is_no_image_data_or_path_is_an_input_error():
    """``decode_image(None)`` raised a TypeError from inside ``open``."""
    with pytest.raises(InputError) as raised:
        decode_image(None)
    assert str(raised.value) == "data must be an image file's bytes or its path, got None"


def test_decompression_bombs_are_refused_before_decoding():
    data = encode(Image.new("1", (3000, 3000)), "PNG")  # tiny file, 9 Mpx once decoded
    result = decode_image(data, max_pixels=1_000_000)
    assert isinstance(result, Skip) and result.reason == TOO_LARGE and "3000x3000" in result.detail


def test_a_jpeg_over_the_pixel_limit_is_held_to_it_at_the_scale_it_is_read_at():
    """A 108 MP phone photo decodes at 1/8 scale for almost nothing: the limit guards what is
    decoded, so such a JPEG is used, while a PNG of the same size (decoded whole) is still refused."""
    photo = encode(Image.new("L", (3000, 2400), 128), "JPEG")  # 7.2 Mpx, over a 1 Mpx limit; read at 1/4: 750x600
    decoded = _decoded(photo, max_pixels=1_000_000)
    assert (decoded.width, decoded.height) == (3000, 2400) and min(decoded.image.size) == 512

    scan = decode_image(encode(Image.new("L", (3000, 2400), 128), "PNG"), max_pixels=1_000_000)
    assert isinstance(scan, Skip) and scan.reason == TOO_LARGE and "3000x2400" in scan.detail
    # Read at full size, or still over the limit at its smallest scale, the JPEG is refused too.
    for kwargs in ({"max_side": None}, {"max_pixels": 100_000}):
        refused = decode_image(photo, **{"max_pixels": 1_000_000, **kwargs})
        assert isinstance(refused, Skip) and refused.reason == TOO_LARGE, kwargs


def test_large_images_are_shrunk_but_keep_their_original_size():
    decoded = _decoded(encode(Image.new("RGB", (1600, 1200), (10, 20, 30)), "JPEG"), max_side=256)
    assert (decoded.width, decoded.height) == (1600, 1200)
    assert min(decoded.image.size) == 256 and decoded.image.size[0] == pytest.approx(341, abs=1)


def test_a_file_path_decodes_like_its_bytes(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(encode(Image.new("RGB", (16, 16), (5, 6, 7)), "PNG"))
    assert _decoded(path).image.getpixel((0, 0)) == (5, 6, 7)
    missing = decode_image(tmp_path / "missing.png")
    assert isinstance(missing, Skip) and missing.reason == "missing"
