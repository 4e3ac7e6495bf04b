"""Run orchestration: filesets, chunks, clusters and executors, the coffea Runner, the
processing pipeline and the run's outputs. Above the analyses, below the API."""
