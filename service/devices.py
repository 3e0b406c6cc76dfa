"""A readable device name from a User-Agent, for sessions, events and notices.

uap-core's rules (ua-parser) do the reading; this module only phrases it. The
name leaves out versions on purpose: a browser that updates is the same device.
"""

from functools import lru_cache

from ua_parser import parse

from service.models import DEVICE_MAX_LENGTH, USER_AGENT_MAX_LENGTH

UNKNOWN_DEVICE = "Unknown device"


@lru_cache(maxsize=1024)
def device_name(user_agent: str | None) -> str:
    """E.g. "Firefox on Ubuntu", "Mobile Safari on iOS (iPhone)", "okhttp"."""
    if not user_agent:
        return UNKNOWN_DEVICE
    result = parse(user_agent[:USER_AGENT_MAX_LENGTH])
    client = result.user_agent.family if result.user_agent else None
    system = result.os.family if result.os else None
    hardware = result.device.family if result.device else None
    name = client or ""
    if system:
        name = f"{name} on {system}" if name else system
    if hardware and name and not hardware.startswith((system or "Other", "Other", "Generic")):
        name = f"{name} ({hardware})"
    return (name or UNKNOWN_DEVICE)[:DEVICE_MAX_LENGTH]


def warm_up() -> None:
    """Load the rules now, not on the first login (it takes a good part of a second)."""
    device_name("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0")
