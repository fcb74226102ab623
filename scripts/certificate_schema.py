#!/usr/bin/env python3
"""Write policies/schema/certificates-v1.schema.json from the certificate models (run after changing them)."""

from __future__ import annotations

import sys
from pathlib import Path

from carbonguard.matching.schema import SCHEMA_PATH, certificates_schema_text

if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / SCHEMA_PATH
    target.write_text(certificates_schema_text(), encoding="utf-8")
    print(f"wrote {target}")
