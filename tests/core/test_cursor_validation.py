"""Pagination cursors are refused unless they are an id the server itself could issue.

A NUL byte in a decoded cursor used to reach the database (a 500 on PostgreSQL); any cursor that
is not a well-formed id is now a 400 `validation_error` on `cursor`. (Cursors were base64 of the
id; they are the id itself now, so that the document's pattern says exactly which are accepted.)
"""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from tests.helpers import problem

# (path, whose token): every list endpoint that pages with a cursor.
LISTS = [
    ("/v1/users", "acme"),
    ("/v1/roles", "acme"),
    ("/v1/permissions", "acme"),
    ("/v1/clients", "acme"),
    ("/v1/audit-events", "acme"),
    ("/v1/apps", "operator"),
]

BODY = "01jdx5abcdefghjkmnpqrstvwx"  # 26 characters of the id alphabet


def _b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).decode().rstrip("=")


BAD_CURSORS = {
    "nul": "dXNyXwA",  # "usr_\x00"
    "nul_in_id": _b64(b"usr_" + BODY[:-1].encode() + b"\x00"),
    "control_char": _b64(b"usr_" + BODY[:-1].encode() + b"\x1f"),
    "newline": _b64(f"usr_{BODY}\n".encode()),
    "short_body": _b64(b"usr_abc"),
    "long_body": _b64(f"usr_{BODY}0".encode()),
    "uppercase": _b64(f"usr_{BODY.upper()}".encode()),
    "outside_alphabet": _b64(f"usr_{BODY[:-1]}u".encode()),  # Crockford base32 has no "u"
    "non_ascii": _b64(f"usr_{BODY[:-1]}é".encode()),
    "no_prefix": _b64(f"_{BODY}".encode()),
    "odd_prefix": _b64(f"u-r_{BODY}".encode()),
    "sql_like": _b64(f"usr_{BODY[:20]}' or 1".encode()),
    "not_utf8": _b64(b"usr_\xff\xfe"),
    "huge": _b64(f"usr_{BODY}".encode()) * 200,
    "padded": _b64(f"usr_{BODY}".encode()) + "==",  # not the form the API hands out
    "junk_inside": "!" + _b64(f"usr_{BODY}".encode()),  # decoders skip "!": not canonical
    "base64_of_an_id": _b64(f"usr_{BODY}".encode()),  # the former encoding
    "raw_newline": f"usr_{BODY}\n",
    "raw_uppercase": f"usr_{BODY.upper()}",
    "raw_long_prefix": f"abcdefghi_{BODY}",
}


def _token(name, acme, operator):
    return acme.token if name == "acme" else operator.token


@pytest.mark.parametrize("path,who", LISTS)
@pytest.mark.parametrize("cursor", list(BAD_CURSORS.values()), ids=list(BAD_CURSORS))
def test_malformed_cursor_is_400_validation_error(api, operator, acme, path, who, cursor):
    response = api.get(f"{path}?cursor={quote(cursor, safe='')}", token=_token(who, acme, operator))
    body = problem(response, 400, "validation_error")
    assert [e["field"] for e in body["errors"]] == ["cursor"]


@pytest.mark.parametrize("path,who", LISTS)
def test_a_well_formed_cursor_is_accepted(api, operator, acme, path, who):
    """An id-shaped cursor pages (here past everything, being the smallest possible id)."""
    cursor = "aaa_" + "0" * 26  # sorts below every prefix in use
    response = api.get(f"{path}?cursor={cursor}", token=_token(who, acme, operator))
    assert response.status_code == 200, response.content
    assert response.json() == {"data": [], "nextCursor": None}


@pytest.mark.parametrize("path,who", LISTS)
def test_issued_cursors_still_page(api, operator, acme, globex, path, who):
    """The cursor the API returns is accepted back, on every list."""
    for n in (1, 2):
        assert api.post("/v1/users", {"email": f"u{n}@example.com"}, token=acme.token).status_code == 201
        assert api.post("/v1/permissions", {"name": f"docs.p{n}"}, token=acme.token).status_code == 201
    assert api.post("/v1/clients", {"name": "worker"}, token=acme.token).status_code == 201
    first = api.get(f"{path}?limit=1", token=_token(who, acme, operator))
    assert first.status_code == 200, first.content
    cursor = first.json()["nextCursor"]
    assert cursor, first.json()  # every list has at least two rows for these fixtures
    second = api.get(f"{path}?limit=1&cursor={cursor}", token=_token(who, acme, operator))
    assert second.status_code == 200, second.content
    assert second.json()["data"] and second.json()["data"] != first.json()["data"]
