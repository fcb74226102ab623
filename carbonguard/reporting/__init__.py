"""Typed results that surfaces render: figures and provenance, never text.

A renderer in `carbonguard.formats` takes one of these and options, and returns text. Each result
names its `kind`, which is how the format registry finds the renderer for it.
"""
