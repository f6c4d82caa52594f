"""A small real OpenID provider on 127.0.0.1 for the social sign-in tests.

http.server in a thread with its own RSA key: discovery, JWKS, /authorize (redirects straight
back with a code, as if the user had consented), /token (checks the client, the code and the
PKCE verifier, then returns an ID token whose claims the test controls), and GitHub's
user/emails APIs. Knobs: `claims` (merged over the defaults), `sign_with_rogue_key`, `delay`
(seconds before answering /token), `token_status` (e.g. 503).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

CLIENT_ID = "heimdall-test-client"
CLIENT_SECRET = "provider-client-secret-value-42"


class FakeProvider:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rogue_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.reset()

    def reset(self) -> None:
        self.claims: dict[str, Any] = {"sub": "subject-1", "email": "alice@example.com", "email_verified": True}
        self.sign_with_rogue_key = False
        self.delay = 0.0
        self.token_status = 200
        self.codes: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []
        self.github_user: dict[str, Any] = {"id": 4242, "login": "octo", "name": "Octo Cat"}
        self.github_emails: list[dict[str, Any]] = [
            {"email": "octo@example.com", "primary": True, "verified": True}
        ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- what it serves ----

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        jwk.update({"kid": "fake-1", "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def id_token(self, grant: dict[str, Any]) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": grant["client_id"],
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
            **self.claims,
        }
        claims = {k: v for k, v in claims.items() if v is not None}
        key = self.rogue_key if self.sign_with_rogue_key else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "fake-1"})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, body: Any, status: int = 200) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                provider.requests.append(parts.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/.well-known/openid-configuration":
                    return self._json(provider.discovery())
                if parts.path == "/jwks":
                    return self._json(provider.jwks())
                if parts.path in ("/authorize", "/login/oauth/authorize"):
                    code = "pcode-" + base64.urlsafe_b64encode(hashlib.sha256(self.path.encode()).digest()).decode()[:20]
                    provider.codes[code] = query
                    location = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query["state"]})
                    self.send_response(302)
                    self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if parts.path == "/user":
                    return self._json(provider.github_user)
                if parts.path == "/user/emails":
                    return self._json(provider.github_emails)
                return self._json({"error": "not_found"}, 404)

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                provider.requests.append(parts.path)
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if parts.path not in ("/token", "/login/oauth/access_token"):
                    return self._json({"error": "not_found"}, 404)
                if provider.delay:
                    time.sleep(provider.delay)
                if provider.token_status != 200:
                    return self._json({"error": "server_error"}, provider.token_status)
                grant = provider.codes.pop(form.get("code", ""), None)
                if (
                    grant is None
                    or form.get("client_id") != CLIENT_ID
                    or form.get("client_secret") != CLIENT_SECRET
                    or form.get("redirect_uri") != grant["redirect_uri"]
                ):
                    return self._json({"error": "invalid_grant"}, 400)
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if challenge != grant.get("code_challenge"):
                    return self._json({"error": "invalid_grant", "error_description": "pkce"}, 400)
                body: dict[str, Any] = {"access_token": "provider-access-token", "token_type": "Bearer"}
                if parts.path == "/token":
                    body["id_token"] = provider.id_token(grant)
                return self._json(body)

        return Handler
