"""Imports through the admin API: a file uploaded, its run queued and run in the
background, its protocol read back (JSON and CSV); each kind of file by its own role."""

from __future__ import annotations

import csv
import io

import trio

from tests.admin.conftest import Admin
from tests.imports.test_imports import agent_row


def agents_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    return out.getvalue().encode()


async def finished(admin: Admin, run_id: int) -> dict:
    with trio.fail_after(20):
        while True:
            r = await admin.call("auditor", "GET", f"/v1/imports/{run_id}")
            if r.json()["state"] in ("done", "refused"):
                return dict(r.json())
            await trio.sleep(0.1)


async def test_an_upload_runs_in_the_background_and_leaves_its_protocol(admin: Admin) -> None:
    body = agents_csv([agent_row(1), agent_row(2, pan="bad"), agent_row(3)])
    files = {"file": ("legacy-agents.csv", body, "text/csv")}
    refused = await admin.call("finance", "POST", "/v1/imports/agents", files=files)
    assert refused.status_code == 403  # agents are onboarding's to bring in
    r = await admin.call(
        "onboarding", "POST", "/v1/imports/agents", files=files, data={"approved": "true"}
    )
    assert r.status_code == 202, r.text
    run_id = r.json()["run"]
    p = await finished(admin, run_id)
    assert p["state"] == "done" and p["file"]["name"] == "legacy-agents.csv"
    assert p["rows"]["accepted"] == 2 and p["rejections"][0]["column"] == "pan"
    states = await admin.sw.db.fetch("SELECT state FROM agents WHERE legacy_ref LIKE 'OLD-%'")
    assert [s["state"] for s in states] == ["approved", "approved"]
    report = await admin.call("auditor", "GET", f"/v1/imports/{run_id}/report.csv")
    assert report.headers["content-type"].startswith("text/csv")
    assert "rows.accepted,2" in report.text and "3,pan," in report.text
    again = await admin.call("onboarding", "POST", "/v1/imports/agents", files=files)
    assert again.status_code == 202 and again.json()["imported_before"]
    assert again.json()["run"] == run_id
    listed = await admin.call("operations", "GET", "/v1/imports")
    assert [x["id"] for x in listed.json()["items"]] == [run_id]
    mapping = b'entity = "agents"\n[columns]\nname = "Shop Name"\n'
    renamed = body.replace(b"legacy_ref,name,", b"legacy_ref,Shop Name,")
    mapped = await admin.call(
        "onboarding",
        "POST",
        "/v1/imports/agents",
        files={"file": ("b.csv", renamed, "text/csv"), "mapping": ("m.toml", mapping)},
    )
    done = await finished(admin, mapped.json()["run"])
    assert done["mapping"]["columns"] == {"name": "Shop Name"}
    assert done["rows"]["already_present"] == 2  # the same PANs and FPS ids: the same agents
    bad = await admin.call(
        "onboarding",
        "POST",
        "/v1/imports/agents",
        files={"file": ("c.csv", body, "text/csv"), "mapping": ("m.toml", b"colums = 1")},
    )
    assert bad.status_code == 422 and "unknown settings" in bad.text
