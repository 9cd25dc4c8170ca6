"""The dialects' own client libraries (from the dev requirements), pointed at the live server by
changing only the host. ``remove-bg`` (the other remove.bg client) is not here: it does not
import on Python 3.10+ (``from collections import Callable``) and pins requests 2.23
(docs/api.md). Photoroom has no Python client to install."""

from __future__ import annotations

import asyncio
import base64
import io

import numpy as np
import pytest
import requests
from PIL import Image

from tests.factories import balance

from .images import image_bytes, open_image


def test_removebg_client(host, live_caller, tmp_path, monkeypatch) -> None:
    import removebg.removebg

    monkeypatch.setattr(removebg.removebg, "API_ENDPOINT", f"{host}/v1.0/removebg")
    client = removebg.RemoveBg(live_caller.secret, str(tmp_path / "error.log"))
    src = tmp_path / "photo.jpg"
    src.write_bytes(image_bytes(400, 300, "JPEG"))
    client.remove_background_from_img_file(str(src))  # size=regular: a free preview
    out = open_image((tmp_path / "photo.jpg_no_bg.png").read_bytes())
    assert out.mode == "RGBA" and out.width * out.height <= 250_000
    b64 = base64.b64encode(image_bytes(300, 200, "PNG")).decode()
    monkeypatch.chdir(tmp_path)
    client.remove_background_from_base64_img(
        b64, size="full", new_file_name="b64.png", bg_color="81d4fa"
    )
    on_blue = open_image((tmp_path / "b64.png").read_bytes()).convert("RGB")
    corner = tuple(
        np.asarray(on_blue)[1, 1].tolist()
    )  # a JPEG (remove.bg's auto format on an opaque colour)
    assert on_blue.size == (300, 200)
    assert max(abs(a - b) for a, b in zip(corner, (129, 212, 250), strict=True)) <= 4
    assert balance(live_caller.workspace) == 9  # the full one
    with pytest.raises(requests.HTTPError) as caught:
        removebg.RemoveBg("ck_wrong", str(tmp_path / "e.log")).remove_background_from_img_file(
            str(src)
        )
    assert caught.value.response.status_code == 403


def test_ailabtools_sdk(host, live_caller) -> None:
    from ailabtools import AILabClient

    async def calls() -> tuple[object, object, object]:
        client = AILabClient(api_key=live_caller.secret, base_url=host)
        try:
            white = await client.background.remove(
                {"image": io.BytesIO(image_bytes(300, 200, "JPEG")), "returnForm": "whiteBK"}
            )
            food = await client.cutout.cutoutFoodBackgroundRemoval(
                {"image": image_bytes(300, 200, "PNG")}
            )
            credits = await client.common.commonQueryCredits({})
            return white, food, credits
        finally:
            await client.aclose()

    white, food, credits = asyncio.run(calls())
    for answer in (white, food):
        data = answer["data"] if isinstance(answer, dict) else answer.data  # type: ignore[attr-defined]
        url = data["image_url"] if isinstance(data, dict) else data.image_url
        image = open_image(requests.get(url, timeout=30).content)
        assert image.size == (300, 200)
    listing = credits["data"] if isinstance(credits, dict) else credits.data  # type: ignore[attr-defined]
    first = listing[0]
    assert (first["balance"] if isinstance(first, dict) else first.balance) == 8


def test_pyclipdrop_client(host, live_caller, tmp_path) -> None:
    from pyclipdrop import ClipdropClient

    src = tmp_path / "car.jpg"
    src.write_bytes(image_bytes(300, 200, "JPEG"))
    out = tmp_path / "output.png"
    ClipdropClient(api_key=live_caller.secret, base_url=host).remove_background(
        str(src), output_file=str(out)
    )
    image = Image.open(out)
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (300, 200)
    assert balance(live_caller.workspace) == 9
