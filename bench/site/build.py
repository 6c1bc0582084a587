"""Building and publishing a full site-builder site (run by hand:
``.venv/bin/python bench/site/build.py [--runs 2]``).

Per run, in a temporary state directory with the real services (the ones
the control panel calls, in-process): a new business, its site started
with a theme, 60 phone photos (4032 x 3024 JPEGs of 3-5 MB, made with
Pillow once, before the first run) added to the image library ten at a
time as the panel's upload form sends them (each turned upright, resized
to a large and a phone variant, re-encoded), 20 pages each with a text
and a gallery block of three of the pictures; then the timed step: one
full build and publish (``SiteBuilder.build``: render every page with the
theme, then store the new version in one transaction). A second publish
of the same draft is timed too (every file already stored), and a
build of the draft in each theme (what a preview or a theme thumbnail
asks for, published nowhere). Prints each
run's figures, then the fastest and slowest.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from PIL import Image  # noqa: E402

from appliance import settings  # noqa: E402
from appliance.app import App  # noqa: E402
from appliance.services.imagelibrary import MAX_FILES, Upload  # noqa: E402

PAGES = 20
PHOTOS = 60
ACTOR = "bench"
#: The theme picker builds the draft in each of these (one build per file a frame asks for).
THEMES = ("bold", "clean", "warm")
#: Enough web space for the library and a few published versions.
PLAN = {"bench": {"web_mb": 4096, "max_users": 10}}


def photo(seed: int, width: int = 4032, height: int = 3024) -> bytes:
    """A phone-sized JPEG of 3-5 MB: smooth colour noise (which compresses
    about as badly as a real photo) over a tint."""
    rnd = random.Random(seed)
    noise = Image.merge("RGB", [Image.effect_noise((width // 4, height // 4), 55 + rnd.random() * 30)
                                for _ in range(3)]).resize((width, height), Image.BILINEAR)
    tint = Image.new("RGB", (width, height), tuple(rnd.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    Image.blend(noise, tint, 0.35).save(out, "JPEG", quality=88)
    return out.getvalue()


def run(app: App, number: int, photos: list[bytes]) -> dict[str, float]:
    core = app.core
    slug = f"bench{number}"
    core.businesses.create(slug, f"Bench {number}", plan="bench", actor=ACTOR)
    core.site_builder.start(slug, "warm", actor=ACTOR)
    started = time.monotonic()
    names: list[str] = []
    for at in range(0, PHOTOS, MAX_FILES):
        uploads = [Upload(f"IMG_{i:04d}.jpg", photos[i], f"Photo {i + 1} of the shop")
                   for i in range(at, min(at + MAX_FILES, PHOTOS))]
        names += core.image_library.add(slug, uploads, actor=ACTOR)
    pictures = time.monotonic() - started
    started = time.monotonic()
    for p in range(PAGES):
        page = "home" if p == 0 else f"page-{p}"
        if p:
            core.site_builder.add_page(slug, page, f"Page {p}", actor=ACTOR)
        core.site_builder.put_block(slug, page, None, "text", {"markdown": f"What we do, part {p}.\n\n- fresh\n- local"},
                                    actor=ACTOR)
        core.site_builder.put_block(slug, page, None, "gallery", {"files": "\n".join(names[3 * p:3 * p + 3])},
                                    actor=ACTOR)
    pages = time.monotonic() - started
    started = time.monotonic()
    built = core.site_builder.build(slug, actor=ACTOR)
    first = time.monotonic() - started
    started = time.monotonic()
    core.site_builder.build(slug, actor=ACTOR)
    again = time.monotonic() - started
    started = time.monotonic()
    for theme in THEMES:
        core.site_builder.preview(slug, theme)
    preview = (time.monotonic() - started) / len(THEMES)
    return {"pictures_s": pictures, "pages_s": pages, "build_publish_s": first, "republish_s": again,
            "preview_s": preview, "files": built.files, "mib": built.bytes / 2**20}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    started = time.monotonic()
    photos = [photo(i) for i in range(PHOTOS)]
    sizes = sorted(len(p) for p in photos)
    print(f"{PHOTOS} photos made in {time.monotonic() - started:.1f} s:"
          f" {sizes[0] / 1e6:.1f}-{sizes[-1] / 1e6:.1f} MB each, {sum(sizes) / 1e6:.0f} MB in all", flush=True)
    with tempfile.TemporaryDirectory(prefix="sitebench-") as tmp:
        app = App(settings.from_mapping({"plans": PLAN}), Path(tmp) / "state")
        try:
            results = []
            for number in range(1, args.runs + 1):
                r = run(app, number, photos)
                results.append(r)
                print(f"run {number}: {PAGES} pages, {PHOTOS} photos -> {r['files']} files, {r['mib']:.1f} MiB;"
                      f" pictures added in {r['pictures_s']:.1f} s, pages in {r['pages_s']:.1f} s;"
                      f" full build and publish {r['build_publish_s']:.2f} s; publish again {r['republish_s']:.2f} s;"
                      f" the draft built in one theme (a preview) {r['preview_s']:.2f} s",
                      flush=True)
            times = [r["build_publish_s"] for r in results]
            print(f"full build and publish: fastest {min(times):.2f} s, slowest {max(times):.2f} s over {len(times)} runs")
        finally:
            app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
