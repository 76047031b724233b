"""Reading outaged.yaml (docs/config.md) into the typed settings of outaged.config."""
