"""The subscriber directory: finding a caller by id, phone or address."""
