"""Schemathesis hooks for `tests/fuzz/run.py`: reach the seeded objects.

Ids are generated at random, so without help every route with an id would answer 404. In the
examples, coverage and fuzzing phases, a case whose path parameters were generated as valid gets
the seeded object's id instead (`HEIMDALL_FUZZ_SEEDED`, JSON: parameter name -> value, or
"METHOD path" -> {name: value} for one operation). Three exceptions keep the run honest:

- DELETE keeps its random id: deleting the seeded objects early would leave 404s for the rest.
  The stateful phase deletes what it created, following the document's links.
- The stateful phase is left alone: its ids come from the responses it follows.
- A case meant to carry an invalid path parameter (negative mode) keeps it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode

_SEEDED: dict[str, Any] = json.loads(os.environ.get("HEIMDALL_FUZZ_SEEDED", "{}"))


def _path_is_positive(case: Any) -> bool:
    meta = case.meta
    if meta is None:
        return False
    if str(meta.phase.name) == "stateful":
        return False
    component = meta.components.get(ParameterLocation.PATH)
    return component is None or component.mode == GenerationMode.POSITIVE


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if not case.path_parameters or case.method.upper() == "DELETE" or not _path_is_positive(case):
        return
    specific = _SEEDED.get(f"{case.method.upper()} {case.path}", {})
    for name in case.path_parameters:
        if name in specific:
            case.path_parameters[name] = specific[name]
        elif name in _SEEDED and not isinstance(_SEEDED[name], dict):
            case.path_parameters[name] = _SEEDED[name]
