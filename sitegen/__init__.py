"""The website builder (themes, pages, build)."""
