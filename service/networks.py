"""IP networks as the settings name them (FORWARDED_ALLOW_IPS)."""

import ipaddress

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(value: str) -> list[IPNetwork]:
    """Comma-separated addresses and CIDRs (ValueError otherwise)."""
    return [
        ipaddress.ip_network(item.strip(), strict=False)
        for item in value.split(",")
        if item.strip()
    ]
