"""The bottom layer: the generic analysis definition, its schema, the analysis registry and
liberica's one-line error base. It imports nothing else of liberica."""
