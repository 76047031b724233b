"""The element-by-address map (trap sources, the API's lookup by address): the
canonical IPv4 fast path gives what `ipaddress` gives, and every other form is
still normalised by `ipaddress`."""

from __future__ import annotations

import dataclasses
import ipaddress
import random
from pathlib import Path

from outaged.probes.probers import address_map
from tests.citygen import write_city
from tests.smallnet import load


def by_ipaddress(addresses: dict[str, str]) -> dict[str, str]:
    """The map's definition: first element of each address's text form."""
    found: dict[str, str] = {}
    for element, address in addresses.items():
        try:
            key = str(ipaddress.ip_address(address))
        except ValueError:
            key = address
        found.setdefault(key, element)
    return found


def test_address_map_equals_ipaddress_normalisation(tmp_path: Path) -> None:
    topology = load(write_city(tmp_path, metros=2, communities=2)).index.topology
    rng = random.Random(9)
    octets = [str(n) for n in range(260)] + ["00", "01", "010", "0255", " 1", "1 ", "", "x"]
    forms = ["10.0.0.1", "::1", "::ffff:10.0.0.1", "FE80::1", "fe80::0001", "10.0.0.1\n"]
    addresses: dict[str, str] = {}
    elements = {}
    for n, (eid, element) in enumerate(sorted(topology.elements.items())):
        if n < len(forms) or n % 3 == 0:
            address = forms[n] if n < len(forms) else rng.choice(forms)
        else:
            address = ".".join(rng.choice(octets) for _ in range(rng.choice((3, 4, 4, 5))))
        addresses[eid] = address
        elements[eid] = dataclasses.replace(element, address=address)
    changed = dataclasses.replace(topology, elements=elements)
    mapped = address_map(changed)
    assert mapped == by_ipaddress(addresses)
    assert "10.0.0.1" in mapped and "fe80::1" in mapped  # both paths taken
    assert "FE80::1" not in mapped and "10.0.0.1\n" in mapped  # normalised; kept as given
