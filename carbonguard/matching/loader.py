"""Read certificate exports and their detached signatures from disk (the only file I/O of matching).

`load_certificate_files` reads every file before returning any, so one bad file loads nothing.
The signature is checked here, while the exact bytes are in hand, against the keys the policy pins;
the bytes are then dropped (a million-bundle export need not stay in memory to be judged).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from carbonguard.errors import InputError, Problem
from carbonguard.matching.inputs import CertificateFile, format_of, parse_certificates
from carbonguard.matching.signature import SIGNATURE_SUFFIX, check_signature

MAX_FILE_BYTES = 2 * 1024**3


def signature_path(path: Path) -> Path:
    """`EXPORT.sig` beside `EXPORT` (the whole name plus `.sig`, e.g. `certs.csv.sig`)."""
    return path.with_name(path.name + SIGNATURE_SUFFIX)


def load_certificates(path: Path | str, pinned: Mapping[str, str] | None = None) -> CertificateFile:
    """Parse one export and verify its signature against the pinned registry keys (name -> base64)."""
    path = Path(path)
    name = str(path)
    fmt = format_of(name)
    data = _read(path, name)
    sig_file = signature_path(path)
    signature = _read(sig_file, str(sig_file)) if sig_file.exists() else None
    if signature is not None and len(signature) > 4096:
        raise InputError(Problem("a signature file holds one base64 signature (88 characters)", source=str(sig_file)))
    loaded = parse_certificates(data, name, fmt)
    loaded.signature = check_signature(data, signature, loaded.registries, pinned or {},
                                       signature_name=sig_file.name)
    return loaded


def load_certificate_files(paths: Iterable[Path | str],
                           pinned: Mapping[str, str] | None = None) -> list[CertificateFile]:
    """All files, or an `InputError` and nothing."""
    return [load_certificates(p, pinned) for p in paths]


def _read(path: Path, name: str) -> bytes:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InputError(Problem(f"larger than {MAX_FILE_BYTES // 1024**3} GiB; split the export", source=name))
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(Problem("no such file", source=name)) from None
    except IsADirectoryError:
        raise InputError(Problem("is a directory, not a certificate file", source=name)) from None
    except OSError as exc:
        raise InputError(Problem(f"cannot read: {exc.strerror}", source=name)) from None
