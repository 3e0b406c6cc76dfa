"""Who a throttling counter counts: a client (an IPv6 one by its /64), its
wider network, or an account, each as a key that holds no text of the client's
choosing and no email in clear."""

import hashlib
import ipaddress


def client_key(ip: str | None) -> str:
    """The throttling identity of a client's IP: IPv6 clients are counted per
    /64, which is what one subscriber gets."""
    if not ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        # Not an address (a proxy passed on garbage): counted under its digest,
        # so no text of the client's choosing reaches a storage key.
        return "other-" + hashlib.sha256(ip.encode(errors="replace")).hexdigest()[:16]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def network_key(client: str) -> str | None:
    """The /48 an IPv6 client key belongs to: one site, which may hold many
    /64s. None for anything else, which has no wider network to count."""
    try:
        network = ipaddress.ip_network(client)
    except ValueError:
        return None
    if network.version != 6 or network.prefixlen < 48:
        return None
    return str(network.supernet(new_prefix=48))


def account_key(email: str) -> str:
    # Counters outlive nothing but their window, yet need not hold addresses in clear.
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
