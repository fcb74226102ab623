"""Zone codes: one scheme, common aliases, and cloud regions mapped to the grid they draw from.

Scheme (see docs/intensity.md): ISO 3166-1 alpha-2 for countries (`DE`, `FR`, `US`); sub-national
grids as `<country>-<grid>`: eGRID subregions in the US (`US-CAMX`), provinces in Canada (`CA-ON`),
states / NEM regions in Australia (`AU-NSW`). Aliases (alpha-3 codes, US state codes, Electricity
Maps balancing-authority zones, NEM region ids) resolve to these codes and the resolution is flagged
on every figure. The zone always comes from the policy or the run, never from IP geolocation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from carbonguard.errors import InputError, Problem
from carbonguard.intensity.dataset import CloudRegion, load_dataset

CLOUD_PROVIDERS: dict[str, str] = {
    "aws": "aws",
    "amazon": "aws",
    "gcp": "gcp",
    "google": "gcp",
    "gce": "gcp",
    "azure": "azure",
    "microsoft": "azure",
}
_CLOUD_PREFIX = re.compile(r"^(AWS|GCP|AZURE):(.+)$", re.IGNORECASE)


def canonical_zone(zone: str) -> str:
    """Upper-case and trim; zone codes are case-insensitive everywhere."""
    return zone.strip().upper()


@dataclass(frozen=True)
class ZoneLookup:
    """What a requested zone resolved to in the embedded data, and how."""

    requested: str
    zone: str | None
    flags: tuple[str, ...] = ()


def lookup_zone(zone: str) -> ZoneLookup:
    """Resolve a zone (or alias) to a code that has an embedded annual figure; `zone=None` if none."""
    data = load_dataset()
    z = canonical_zone(zone)
    if z in data.annual:
        return ZoneLookup(z, z)
    alias = data.aliases.get(z)
    if alias is not None and alias.zone in data.annual:
        return ZoneLookup(z, alias.zone, (f"zone-alias:{z}->{alias.zone}",))
    if len(z) == 3 and z in data.alpha3:
        return ZoneLookup(z, data.alpha3[z], (f"zone-alias:{z}->{data.alpha3[z]}",))
    return ZoneLookup(z, None)


def _normalise_region(provider: str, region: str) -> str:
    r = region.strip().lower()
    if provider == "azure":
        return r.replace(" ", "")
    if provider == "gcp":
        m = re.fullmatch(r"(.+\d)-[a-z]", r)  # us-central1-a -> us-central1
        return m.group(1) if m else r
    m = re.fullmatch(r"(.+-\d)[a-z]", r)  # us-east-1a -> us-east-1
    return m.group(1) if m else r


def cloud_region(cloud_provider: str, region: str) -> CloudRegion:
    """The embedded entry of a cloud region; a clear InputError naming the field when unknown."""
    key = CLOUD_PROVIDERS.get(cloud_provider.strip().lower())
    if key is None:
        raise InputError(
            Problem(
                f"unknown cloud provider {cloud_provider!r} (spec.location.cloud.provider or --cloud-provider); "
                "use one of aws, gcp, azure",
                source="location",
                field_path="cloud.provider",
            )
        )
    data = load_dataset()
    name = _normalise_region(key, region)
    entry = data.cloud_regions.get((key, name))
    if entry is None:
        known = sorted(r for p, r in data.cloud_regions if p == key)
        raise InputError(
            Problem(
                f"unknown {key} region {region!r}; known {key} regions: {', '.join(known)}. "
                "Give the grid zone instead (spec.location.zone, or ZONE on the command line) if the "
                "region is new",
                source="location",
                field_path="cloud.region",
            )
        )
    return entry


def resolve_zone(zone: str | None, cloud_provider: str | None, cloud_region_name: str | None) -> str:
    """The grid zone of a run: an explicit zone wins; else the zone of the cloud region.

    Raises InputError when neither is given (carbonguard never guesses the location) or the cloud
    region is unknown. The returned zone may still lack a figure; the intensity source decides,
    per `unknown_zone`, whether that blocks.
    """
    if zone is not None and zone.strip():
        z = canonical_zone(zone)
        m = _CLOUD_PREFIX.match(z)
        if m:
            return cloud_region(m.group(1), m.group(2)).zone
        return z
    if cloud_provider and cloud_region_name:
        return cloud_region(cloud_provider, cloud_region_name).zone
    if cloud_provider or cloud_region_name:
        missing = "cloud_region" if cloud_provider else "cloud_provider"
        raise InputError(
            Problem(
                f"a cloud location needs both a provider and a region; the {missing.replace('_', ' ')} is "
                "missing (spec.location.cloud, or --cloud-provider and --cloud-region)",
                source="location",
                field_path=missing.replace("cloud_", "cloud."),
            )
        )
    raise InputError(
        Problem(
            "no zone given: set spec.location.zone (e.g. DE, US-CAMX) or spec.location.cloud in the "
            "policy, or pass ZONE or --cloud-provider and --cloud-region on the command line; "
            "carbonguard never guesses the grid from the network location",
            source="location",
            field_path="zone",
        )
    )
