"""coffea processors: a chunk of events in, a mergeable accumulator out."""
