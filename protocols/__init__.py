"""One package per protocol; each exposes ``start(app)``."""
