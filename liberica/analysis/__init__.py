"""Analysis definitions, filesets, executors and the processing pipeline."""
