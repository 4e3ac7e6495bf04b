"""Turn a jsonschema error into the dotted key it concerns and a short reason."""

from __future__ import annotations

from typing import Any

import jsonschema


def dotted_key(path: Any) -> str:
    """``["regions", "sr_4l", "channels", 0]`` -> ``regions.sr_4l.channels[0]``."""
    key = ""
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key or "<top level>"


def locate(error: jsonschema.ValidationError) -> tuple[str, str]:
    """The offending key of a validation error and the reason, for a message."""
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - allowed)
        if extra:
            return dotted_key([*path, extra[0]]), "unknown key"
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return dotted_key([*path, missing]), "required key is missing"
    return dotted_key(path), error.message


def first_error(schema: dict, config: Any) -> jsonschema.ValidationError | None:
    """The most specific (deepest) validation error, or None."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = list(validator.iter_errors(config))
    if not errors:
        return None
    deepest = max(errors, key=lambda e: len(e.absolute_path))
    return jsonschema.exceptions.best_match([deepest])
