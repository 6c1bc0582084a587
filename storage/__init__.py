"""The SQLite layer: one box database, one database per business."""
