"""The configuration: mirrors, settings, sizes, and the flags built from models."""
