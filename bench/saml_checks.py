"""Benchmark: CPU per SAML response of sso-login's checks (``saml.validate_response``: our
hardening and signature allow-list, python3-saml's strict validation, the rest), one after another
and in a pool of threads as sso-login runs them (``ROSTER_SAML_WORKERS``, 2 by default), beside
the bare signature verification of the same responses.

The responses are pysaml2's (the tests' IdP: signed assertion, e-mail NameID, two attributes).
No service, broker or database: only this process's CPU. Compare two checkouts by running this
file with each one's interpreter (``<checkout>/.venv/bin/python bench/saml_checks.py``).

    uv run python bench/saml_checks.py [--responses 400] [--threads 2]
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from onelogin.saml2.utils import OneLogin_Saml2_Utils  # noqa: E402
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML  # noqa: E402
from sso_login import saml  # noqa: E402

from tests.sso.saml_idp import SamlIdP  # noqa: E402


def per_response(fn: Callable[[str], Any], encoded: list[str], threads: int) -> tuple[float, float]:
    """Wall and CPU milliseconds per response of ``fn`` over ``encoded``, in ``threads``."""
    wall, cpu = time.perf_counter(), time.process_time()
    if threads <= 1:
        for value in encoded:
            fn(value)
    else:
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            list(pool.map(fn, encoded))
    count = len(encoded)
    return (
        (time.perf_counter() - wall) / count * 1000,
        (time.process_time() - cpu) / count * 1000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=400)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    urls = saml.sp_urls("http://127.0.0.1:8000", "acme")
    with tempfile.TemporaryDirectory() as tmp:
        idp = SamlIdP(Path(tmp), [saml.sp_metadata(urls)])
        connection = saml.parse_idp_metadata(idp.metadata()).model_copy(
            update={"allow_idp_initiated": True}
        )
        xml = [
            idp.response_xml(
                sp_entity_id=urls.entity_id,
                acs_url=urls.acs_url,
                name_id=f"user{i:05d}@example.com",
                in_response_to=None,
                attributes={"mail": [f"user{i:05d}@example.com"], "givenName": [f"U{i}"]},
            )
            for i in range(args.responses)
        ]
    encoded = [base64.b64encode(x).decode() for x in xml]
    cert = OneLogin_Saml2_Utils.format_cert(connection.signing_certs[0])

    def check(value: str) -> None:
        saml.validate_response(
            value,
            urls=urls,
            connection=connection,
            request_id=None,
            skew=timedelta(minutes=2),
            max_bytes=200_000,
        )

    def bare(value: str) -> None:
        document = OneLogin_Saml2_XML.to_etree(base64.b64decode(value))
        if not OneLogin_Saml2_Utils.validate_sign(
            document, cert, xpath=OneLogin_Saml2_Utils.ASSERTION_SIGNATURE_XPATH
        ):
            raise AssertionError("signature did not verify")

    for value in encoded[:20]:  # warm: imports, compiled schemas and queries
        check(value)
        bare(value)
    for label, fn in (("bare signature verification", bare), ("sso-login's checks", check)):
        for threads in sorted({1, args.threads}):
            wall, cpu = per_response(fn, encoded, threads)
            where = "one after another" if threads == 1 else f"in {threads} threads"
            print(f"{label}, {where}: {cpu:.3f} ms CPU, {wall:.3f} ms wall per response")


if __name__ == "__main__":
    main()
