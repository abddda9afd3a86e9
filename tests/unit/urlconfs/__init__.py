"""URLconfs for the system-check tests: the REST API mounted in different ways, or not at all."""
