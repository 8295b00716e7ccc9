"""Definition JSON text as typed or uploaded: the byte cap, checked before any parsing work,
and the parse itself (errors name the field ``definition``)."""

from __future__ import annotations

import json
from typing import Any

from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.workflow import MAX_DEFINITION_BYTES


def check_definition_size(text: str, max_bytes: int = MAX_DEFINITION_BYTES) -> None:
    """Refuse definition JSON text over ``max_bytes`` (field ``definition``); cheap, so front
    ends call it before any other work on the text."""
    if len(text) > max_bytes or len(text.encode()) > max_bytes:
        raise InvalidInputError(f"definition is larger than {max_bytes} bytes",
                                field="definition")


def parse_definition_text(text: str, max_bytes: int = MAX_DEFINITION_BYTES) -> Any:
    """Parse a definition typed or uploaded as JSON text, refusing one over ``max_bytes``
    before any parsing work (field ``definition``)."""
    check_definition_size(text, max_bytes)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"definition is not valid JSON: {exc.msg} (line {exc.lineno}, "
                                f"column {exc.colno})", field="definition") from None
