"""Device profiles as data: peak dense FLOP/s per dtype, memory bandwidth and size, interconnect bandwidth.

The built-in profiles are ``devices.toml`` beside this module (each entry names its vendor datasheet); a user
profile is a TOML or JSON file with the same fields, one table per device or the fields at the top level.

Examples
--------
>>> h100 = get_profile("h100")
>>> h100.peak("bf16"), h100.memory_bandwidth
(989400000000000.0, 3350000000000.0)
>>> get_profile("t4").peak("bf16")
Traceback (most recent call last):
...
dlperf.errors.ArgumentError: precision: NVIDIA T4 16 GB (t4) has no bf16 peak; it has fp32, fp16: choose one of those
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from dlperf.errors import ArgumentError, ref

__all__ = ["DeviceProfile", "DTYPES", "REQUIRED", "builtin_profiles", "get_profile", "load_profile_file",
           "profile_from_mapping"]

#: The dtypes a profile may give a peak for, in the order they are listed.
DTYPES = ("fp32", "tf32", "bf16", "fp16", "fp8")
#: The fields every profile must have.
REQUIRED = ("name", "peak_tflops", "memory_bandwidth_gbs", "memory_gb", "interconnect_gbs", "source")


@dataclass(frozen=True)
class DeviceProfile:
    """One device: peak dense FLOP/s per dtype and bandwidths, in SI units (FLOP/s, bytes/s, bytes).

    Attributes
    ----------
    key, name : str
        The ``--device`` name and the full name.
    peak_flops : Mapping
        Dtype (``fp32``, ``tf32``, ``bf16``, ``fp16``, ``fp8``) to peak dense FLOP/s.
    memory_bandwidth, interconnect_bandwidth : float
        Bytes per second: the device memory, and one direction of the link to its peers.
    memory_bytes : float
    source, notes, interconnect : str
        The datasheet, what was read from it, and the link's datasheet description.
    torch_device : str
        The torch device type it runs as (``cuda``, ``xla``, ``cpu``; empty when not stated).
    """

    key: str
    name: str
    peak_flops: Mapping[str, float]
    memory_bandwidth: float
    memory_bytes: float
    interconnect_bandwidth: float
    source: str
    notes: str = ""
    interconnect: str = ""
    #: the torch device type it runs as ("cuda" for NVIDIA, and AMD under ROCm; "xla" for TPUs; "" when the
    #: profile does not say): whose autocast op lists ``peak`` / ``fit`` apply for ``--device NAME``
    torch_device: str = ""
    origin: str = field(default="built-in", compare=False)
    #: per-family efficiency curves and per-op overhead (:mod:`archcalc.time.efficiency`), from ``archcalc
    #: calibrate``; None: the plain roofline with the given efficiencies
    calibration: Any = field(default=None, compare=False)

    def peak(self, dtype: str) -> float:
        """Peak dense FLOP/s in ``dtype``; ``ValueError`` naming the dtypes there are when it has none."""
        if dtype not in self.peak_flops:
            raise ArgumentError("precision", what=f"{self.name} ({self.key}) has no {dtype} peak",
                                fix=f"it has {', '.join(self.peak_flops)}: choose one of those")
        return self.peak_flops[dtype]

    @property
    def vector_peak(self) -> float:
        """FLOP/s of element-wise work: the fp32 peak, or the lowest peak the device lists when it has none."""
        return self.peak_flops.get("fp32", min(self.peak_flops.values()))


def _positive(key: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"device profile {key!r}: field {name} = {value!r}; give a positive number")
    return float(value)


def profile_from_mapping(key: str, data: Mapping[str, Any], origin: str = "built-in") -> DeviceProfile:
    """A :class:`DeviceProfile` from one table of a profile file; ``ValueError`` naming a missing or bad field."""
    if not isinstance(data, Mapping):
        raise ValueError(f"device profile {key!r}: expected a table of fields ({', '.join(REQUIRED)}), got {data!r}")
    for name in REQUIRED:
        if name not in data:
            raise ValueError(f"device profile {key!r} in {origin}: missing field {name!r}; a profile needs "
                             f"{', '.join(REQUIRED)}")
    peaks = data["peak_tflops"]
    if not isinstance(peaks, Mapping) or not peaks:
        raise ValueError(f"device profile {key!r}: field peak_tflops = {peaks!r}; give a table such as "
                         "{ bf16 = 989.4, fp32 = 67.0 }")
    unknown = [d for d in peaks if d not in DTYPES]
    if unknown:
        raise ValueError(f"device profile {key!r}: peak_tflops has unknown dtype {unknown[0]!r}; "
                         f"use {', '.join(DTYPES)}")
    flops = {d: _positive(key, f"peak_tflops.{d}", peaks[d]) * 1e12 for d in DTYPES if d in peaks}
    calibration = None
    if "calibration" in data:
        from archcalc.time.efficiency import calibration_from_mapping

        calibration = calibration_from_mapping(data["calibration"], f"device profile {key!r} in {origin}: "
                                               "calibration")
    return DeviceProfile(
        key=key, name=str(data["name"]), peak_flops=MappingProxyType(flops),
        memory_bandwidth=_positive(key, "memory_bandwidth_gbs", data["memory_bandwidth_gbs"]) * 1e9,
        memory_bytes=_positive(key, "memory_gb", data["memory_gb"]) * 1e9,
        interconnect_bandwidth=_positive(key, "interconnect_gbs", data["interconnect_gbs"]) * 1e9,
        source=str(data["source"]), notes=str(data.get("notes", "")),
        interconnect=str(data.get("interconnect", "")), torch_device=str(data.get("torch_device", "")),
        origin=origin, calibration=calibration)


def _tables(data: Mapping[str, Any], origin: str) -> dict[str, DeviceProfile]:
    if "name" in data:  # one device at the top level: its key is the file's stem
        key = Path(origin).stem.lower()
        return {key: profile_from_mapping(key, data, origin)}
    return {k.lower(): profile_from_mapping(k.lower(), v, origin) for k, v in data.items()}


@cache
def builtin_profiles() -> Mapping[str, DeviceProfile]:
    """The profiles of ``devices.toml``, by ``--device`` name."""
    path = Path(__file__).with_name("devices.toml")
    return MappingProxyType(_tables(tomllib.loads(path.read_text(encoding="utf-8")), "built-in"))


def load_profile_file(path: str) -> dict[str, DeviceProfile]:
    """Profiles from a user's ``.toml`` or ``.json`` file; ``ValueError`` / ``OSError`` in one line."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.endswith(".json") else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ArgumentError("device_file", path, "fix the file", what=f"{path} is not valid "
                            f"{'JSON' if path.endswith('.json') else 'TOML'} ({exc})") from None
    if not isinstance(data, Mapping) or not data:
        raise ArgumentError("device_file", path, "give [name] tables of profile fields",
                            what=f"{path} holds no device table")
    return _tables(data, path)


def get_profile(name: str, device_file: str | None = None) -> DeviceProfile:
    """The profile ``name`` from ``device_file`` (when given) or the built-in ones."""
    profiles = dict(builtin_profiles())
    if device_file is not None:
        profiles.update(load_profile_file(device_file))
    key = name.lower()
    if key not in profiles:
        raise ArgumentError("name", name, f"known devices: {', '.join(profiles)} (or describe one in a "
                            f"{ref('device_file')})")
    return profiles[key]
