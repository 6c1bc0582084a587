"""A sample business site for the builder's tests: pages that use every
block type, pictures made here (PNG, no image library needed), and a profile
with every key set."""

from __future__ import annotations

import struct
import zlib

from storage.sitegen import Sources


def png(width: int, height: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> bytes:
    """A vertical gradient from ``top`` to ``bottom`` as an RGB PNG."""
    rows = []
    for y in range(height):
        t = y / max(1, height - 1)
        pixel = bytes(round(a + (b - a) * t) for a, b in zip(top, bottom))
        # Filter type 0 (None) for each scanline, RFC 2083 section 6.
        rows.append(b"\x00" + pixel * width)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b"")


IMAGES = {
    "shopfront.png": png(960, 540, (196, 120, 64), (60, 40, 30)),
    "bread.png": png(400, 400, (230, 190, 120), (150, 90, 40)),
    "cake.png": png(400, 400, (250, 210, 220), (190, 80, 110)),
    "coffee.png": png(400, 400, (120, 80, 50), (40, 25, 15)),
    "logo.png": png(120, 120, (30, 90, 170), (10, 40, 90)),
}

HOME = """---
title: Home
menu: Home
description: Sourdough, cakes and coffee on Market Street since 1987.
---
::: heading
Baked this morning, a few steps from you
Everything on our counter was made in our own kitchen before sunrise.
:::

We are a family bakery. Our **sourdough** rests for 36 hours, our cakes
follow our grandmother's recipes, and the coffee comes from a roaster in
town. Read about [our prices](/prices/) or [visit us](/contact/).

::: image
file: shopfront.png
alt: The bakery's shop front with loaves in the window
caption: Market Street 12, open every day but Monday.
:::

::: gallery
- bread.png | A round sourdough loaf
- cake.png | A raspberry cream cake
- coffee.png | A cup of coffee with milk foam
:::
"""

PRICES = """---
title: Prices
description: What our bread, cakes and coffee cost.
---
# Bread

::: services
- Sourdough loaf | 4.80 EUR | 1 kg, rye and wheat, 36 hours of rising
- Baguette | 2.20 EUR
- Seeded rolls, six | 3.90 EUR | Sunflower, pumpkin and sesame
:::

::: heading
Cakes to order
Order two days ahead; we deliver within the town.
:::

::: services
- Birthday cake | from 32 EUR | For 12 people
- Raspberry slice | 3.60 EUR
:::
"""

CONTACT = """---
title: Visit us
menu: Contact
---
::: contact
Come in, call, or write: we answer every message the same day.
:::
"""

PROFILE = {
    "name": "Müller's Bakery",
    "tagline": "Sourdough, cakes and coffee since 1987",
    "logo": "logo.png",
    "colour": "",
    "accent": "",
    "address": "Market Street 12; 10115 Springfield",
    "phone": "+49 30 1234 5678",
    "email": "hello@bakery.example",
    "hours": "Tue-Fri 7:00-18:00; Sat 7:00-14:00; Sun 8:00-12:00; Mon closed",
    "map": "https://maps.example/?q=Market+Street+12",
    "language": "en",
}

#: Links in the sample that the owner typed; nothing else may be absolute.
OWNER_LINKS = ("https://maps.example/?q=Market+Street+12",)


def sources(theme: str, **profile: str) -> Sources:
    """The sample site with ``theme`` and ``profile`` overrides."""
    return Sources(
        theme=theme,
        profile={**PROFILE, **profile},
        pages={"home": HOME, "prices": PRICES, "contact": CONTACT},
        nav=["home", "prices", "contact"],
        images={name: ("image/png", *_size(data), data) for name, data in IMAGES.items()},
    )


def _size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])
