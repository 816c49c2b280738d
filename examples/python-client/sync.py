"""A partner's mirror, written against the SDK that openapi-python-client generates from
Legami's OpenAPI document (nothing here speaks HTTP by hand).

It logs in, creates an organisation and a lab, lists labs with a filter following every cursor,
then mirrors the change feed from the start until it is caught up, and checks that what it
created is in both. Exit status 0 when every step held.

    openapi-python-client generate --path ../../openapi/openapi.json --meta none \
        --output-path /tmp/sdk/legami_client
    PYTHONPATH=/tmp/sdk python3 sync.py --base http://127.0.0.1:8080 \
        --email admin@example.org --password '...'
"""

import argparse
import json
import sys
import uuid

from legami_client import AuthenticatedClient, Client
from legami_client.api.auth import token
from legami_client.api.labs import create_lab, get_lab, list_labs
from legami_client.api.mirroring import list_changes
from legami_client.api.organisations import create_organisation
from legami_client.models import (
    ChangeFeed,
    LabDto,
    LabInput,
    LabList,
    OrganisationDto,
    OrganisationInput,
    TokenRequest,
    TokenResponse,
)


def fail(msg):
    print(f"sync.py: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--password", required=True)
    args = p.parse_args()

    # 1. Log in (the token endpoint needs no token).
    anon = Client(base_url=args.base, raise_on_unexpected_status=True)
    tok = token.sync(client=anon, body=TokenRequest.from_dict(
        {"grant_type": "password", "email": args.email, "password": args.password}))
    if not isinstance(tok, TokenResponse):
        fail(f"login: {tok}")
    api = AuthenticatedClient(base_url=args.base, token=tok.access_token,
                              raise_on_unexpected_status=True)

    # 2. Create an organisation, then a lab it runs.
    tag = uuid.uuid4().hex[:8]
    org = create_organisation.sync(client=api, body=OrganisationInput.from_dict({
        "name": f"Cooperativa SDK {tag}", "kind": "social_cooperative",
        "address": {"municipality": "018110"}, "status": "published"}))
    if not isinstance(org, OrganisationDto):
        fail(f"create organisation: {org}")
    lab = create_lab.sync(client=api, body=LabInput.from_dict({
        "name": f"Laboratorio SDK {tag}", "kind": "social_lab", "status": "published",
        "themes": ["mutual_help"],
        "operators": [{"organisation_id": str(org.id), "role": "manager"}],
        "address": {"municipality": "018110"}, "location": {"lat": 45.19, "lon": 9.15}}))
    if not isinstance(lab, LabDto):
        fail(f"create lab: {lab}")
    again = get_lab.sync(client=api, id=lab.slug)
    if not isinstance(again, LabDto) or again.id != lab.id:
        fail(f"read back by slug: {again}")

    # 3. List labs in Pavia with that theme, two per page, following cursors to the end.
    seen, pages, cursor = [], 0, None
    while True:
        kwargs = {"municipality": ["018110"], "theme": ["mutual_help"], "limit": 2}
        if cursor:
            kwargs["cursor"] = cursor
        page = list_labs.sync(client=api, **kwargs)
        if not isinstance(page, LabList):
            fail(f"list labs: {page}")
        pages += 1
        seen.extend(item.id for item in page.data)
        cursor = page.page.next_cursor
        if not cursor:
            break
        if pages > 1000:
            fail("the cursors never end")
    if lab.id not in seen:
        fail("the new lab is not in the filtered listing")
    if len(seen) != len(set(seen)):
        fail("a lab appeared on two pages")

    # 4. Mirror the change feed from the start until caught up.
    mirror, since, rounds = {}, None, 0
    while True:
        kwargs = {"limit": 100}
        if since:
            kwargs["since"] = since
        feed = list_changes.sync(client=api, **kwargs)
        if not isinstance(feed, ChangeFeed):
            fail(f"change feed: {feed}")
        for change in feed.data:
            key = (str(change.type_), str(change.id))
            if str(change.op) == "delete":
                mirror.pop(key, None)
            else:
                mirror[key] = change.seq
        rounds += 1
        if not feed.data:
            break
        since = feed.next_cursor
        if rounds > 10000:
            fail("the change feed never catches up")
    for kind, record in (("lab", lab.id), ("organisation", org.id)):
        if (kind, str(record)) not in mirror:
            fail(f"the mirror lacks the new {kind} {record}")

    print(json.dumps({"lab": str(lab.id), "labs_listed": len(seen), "pages": pages,
                      "mirrored": len(mirror), "feed_rounds": rounds}))


if __name__ == "__main__":
    main()
