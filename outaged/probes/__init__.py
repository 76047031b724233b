"""Probes: ICMP, SNMP polling and SNMP traps, each emitting typed signals."""
