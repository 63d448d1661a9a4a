"""Chip presets shipped as YAML."""
