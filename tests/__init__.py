"""Tests: table tests for pure logic, real peers (snmpd, fping, SMTP) at the edges."""
