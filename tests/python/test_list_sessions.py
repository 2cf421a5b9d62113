"""ListSessions: page size, Ids/Sessions agreement, order, tag filters, tokens, paging under churn."""

from __future__ import annotations

import random
import string
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from epoxy_harness import (
    ACCOUNT_A,
    ACCOUNT_B,
    create_session,
    expect_client_error,
    glue_client,
    list_all,
    session_arn,
)


def _create_many(server, ids, tags_for=lambda sid: None, workers=8):
    """Create sessions in parallel, one boto3 client per worker thread."""
    local = threading.local()

    def one(sid):
        if not hasattr(local, "glue"):
            local.glue = server.glue()
        tags = tags_for(sid)
        create_session(local.glue, sid, **({"Tags": tags} if tags else {}))
        return sid

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, ids))


def _check_page(page):
    ids = page.get("Ids", [])
    sessions = page.get("Sessions", [])
    assert ids == [s["Id"] for s in sessions], "Ids and Sessions disagree on a page"
    for s in sessions:
        assert "Timeout" not in s and "Tags" not in s


@pytest.fixture(scope="module")
def populated(server, glue):
    """150 sessions tagged suite=<run>, created in a known order."""
    run = "".join(random.choices(string.ascii_lowercase, k=8))
    ids = [f"pop-{run}-{i:03d}" for i in range(150)]
    _create_many(server, ids, lambda sid: {"suite": run})
    return run, ids


def test_default_page_size_is_100(glue, populated):
    page = glue.list_sessions()
    assert len(page["Ids"]) == 100, "MaxResults defaults to 100"
    assert page.get("NextToken")
    _check_page(page)


def test_default_page_size_with_filter(glue, populated):
    run, ids = populated
    first = glue.list_sessions(Tags={"suite": run})
    assert len(first["Ids"]) == 100 and first.get("NextToken")
    second = glue.list_sessions(Tags={"suite": run}, NextToken=first["NextToken"])
    assert len(second["Ids"]) == 50
    assert not second.get("NextToken")
    assert sorted(first["Ids"] + second["Ids"]) == sorted(ids)


def test_max_results_bounds(glue, populated):
    run, ids = populated
    assert len(glue.list_sessions(MaxResults=1, Tags={"suite": run})["Ids"]) == 1
    page = glue.list_sessions(MaxResults=1000, Tags={"suite": run})
    assert len(page["Ids"]) == 150 and not page.get("NextToken")


def test_ids_and_sessions_agree_on_every_page(glue, populated):
    _, pages = list_all(glue, max_results=7)
    assert len(pages) >= 150 // 7
    for page in pages:
        _check_page(page)
        assert len(page["Ids"]) <= 7


def _sort_key(session):
    return (session["CreatedOn"], session["Id"])


def test_stable_order_by_created_on_then_id(glue, populated):
    run, _ = populated
    _, pages = list_all(glue, max_results=13, tags={"suite": run})
    walked = [s for p in pages for s in p["Sessions"]]
    keys = [_sort_key(s) for s in walked]
    assert keys == sorted(keys) or keys == sorted(keys, reverse=True), (
        "ListSessions is not ordered by (CreatedOn, Id); first out-of-order pair: "
        + next(f"{a} then {b}" for a, b in zip(keys, keys[1:]) if a > b)
    )
    # Same walk with a different page size gives the same sequence.
    again, _ = list_all(glue, max_results=50, tags={"suite": run})
    assert again == [s["Id"] for s in walked]


def test_same_created_on_ties_break_by_id(server, glue, uid):
    """Sessions created in a burst (often in the same millisecond) are ordered by Id among equals."""
    ids = [f"tie-{uid}-{c}" for c in "edcbahgf"]
    _create_many(server, ids, lambda sid: {"tie": uid}, workers=8)
    _, pages = list_all(glue, max_results=3, tags={"tie": uid})
    walked = [s for p in pages for s in p["Sessions"]]
    assert sorted(s["Id"] for s in walked) == sorted(ids)
    keys = [_sort_key(s) for s in walked]
    assert keys == sorted(keys) or keys == sorted(keys, reverse=True), keys


def test_tags_filter_applied_before_paging(server, glue, uid):
    """90 sessions, every third tagged team=a: pages of 10 are full until the last, 30 in all."""
    team_a, team_b = f"a-{uid}", f"b-{uid}"
    ids = [f"flt-{uid}-{i:02d}" for i in range(90)]
    tagged = {sid for i, sid in enumerate(ids) if i % 3 == 0}

    def tags_for(sid):
        if sid in tagged:
            return {"team": team_a}
        return {"team": team_b} if int(sid[-2:]) % 3 == 1 else None

    _create_many(server, ids, tags_for)
    seen, pages = list_all(glue, max_results=10, tags={"team": team_a})
    sizes = [len(p["Ids"]) for p in pages]
    for p in pages:
        _check_page(p)
    assert sorted(seen) == sorted(tagged), f"filter returned {len(seen)} sessions, want 30"
    assert all(n == 10 for n in sizes[:-1]), (
        f"page sizes {sizes}: a filtered page came back short before the end"
    )
    assert sizes in ([10, 10, 10], [10, 10, 10, 0]), sizes
    assert len(set(seen)) == len(seen)


def test_tags_filter_is_and_over_keys(server, glue, uid):
    combos = {
        f"and-{uid}-ap": {"team": f"a-{uid}", "env": "prod"},
        f"and-{uid}-ad": {"team": f"a-{uid}", "env": "dev"},
        f"and-{uid}-bp": {"team": f"b-{uid}", "env": "prod"},
        f"and-{uid}-a": {"team": f"a-{uid}"},
        f"and-{uid}-apx": {"team": f"a-{uid}", "env": "prod", "extra": "1"},
    }
    _create_many(server, list(combos), lambda sid: combos[sid])

    def listed(tags):
        return sorted(list_all(glue, max_results=2, tags=tags)[0])

    assert listed({"team": f"a-{uid}", "env": "prod"}) == sorted(
        [f"and-{uid}-ap", f"and-{uid}-apx"]
    )
    assert listed({"team": f"a-{uid}"}) == sorted(
        [f"and-{uid}-ap", f"and-{uid}-ad", f"and-{uid}-a", f"and-{uid}-apx"]
    )
    assert listed({"team": f"a-{uid}", "env": "nope"}) == []
    assert listed({"team": f"a-{uid}x"}) == [], "values match exactly, not by prefix"
    assert listed({"team": f"b-{uid}", "env": "prod"}) == [f"and-{uid}-bp"]


def test_tags_filter_follows_tag_resource(glue, uid):
    sid = f"flt-tr-{uid}"
    create_session(glue, sid)
    assert list_all(glue, tags={"late": uid})[0] == []
    glue.tag_resource(ResourceArn=session_arn(sid), TagsToAdd={"late": uid})
    assert list_all(glue, tags={"late": uid})[0] == [sid]
    glue.untag_resource(ResourceArn=session_arn(sid), TagsToRemove=["late"])
    assert list_all(glue, tags={"late": uid})[0] == []


def test_empty_filter_result(glue, uid):
    page = glue.list_sessions(Tags={"nobody": uid})
    assert page.get("Ids", []) == [] and page.get("Sessions", []) == []
    assert not page.get("NextToken")


def _real_token(glue, tags):
    page = glue.list_sessions(MaxResults=2, Tags=tags)
    assert page.get("NextToken"), "need a page with a NextToken"
    return page["NextToken"]


def _flip(token: str) -> str:
    i = len(token) // 2
    c = token[i]
    repl = "A" if c != "A" else "B"
    return token[:i] + repl + token[i + 1 :]


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: "garbage",
        lambda t: "eyJrIjoiZm9yZ2VkIn0=",  # base64 of {"k":"forged"}
        _flip,
        lambda t: t[: len(t) // 2],
        lambda t: t + "A",
        lambda t: t[::-1],
    ],
    ids=["garbage", "base64-json", "one-char-flipped", "truncated", "extended", "reversed"],
)
def test_forged_token_is_invalid_input(glue, populated, forge):
    run, _ = populated
    token = _real_token(glue, {"suite": run})
    forged = forge(token)
    assert forged != token
    expect_client_error(
        glue.list_sessions, "InvalidInputException", NextToken=forged, Tags={"suite": run}
    )
    # The genuine token still works.
    assert glue.list_sessions(NextToken=token, MaxResults=2, Tags={"suite": run})["Ids"]


@pytest.mark.parametrize("size", [400_000, 400_001])
def test_huge_token_is_rejected(glue, size):
    """NextToken is at most 400,000 characters; neither a maximal garbage token nor a longer one is a 5xx."""
    expect_client_error(
        glue.list_sessions, ("InvalidInputException", "ValidationException"), NextToken="A" * size
    )


def test_token_reused_with_other_filter_is_invalid_input(glue, populated, uid):
    run, _ = populated
    token = _real_token(glue, {"suite": run})
    expect_client_error(
        glue.list_sessions, "InvalidInputException", NextToken=token, Tags={"suite": "other"}
    )
    expect_client_error(glue.list_sessions, "InvalidInputException", NextToken=token)
    expect_client_error(
        glue.list_sessions, "InvalidInputException", NextToken=token, Tags={"suite": run, "x": "y"}
    )


def test_unfiltered_token_with_filter_is_invalid_input(glue, populated):
    page = glue.list_sessions(MaxResults=2)
    assert page.get("NextToken")
    expect_client_error(
        glue.list_sessions, "InvalidInputException", NextToken=page["NextToken"], Tags={"a": "b"}
    )


def test_token_from_another_account_is_invalid_input(auth_server):
    a = auth_server.glue(ACCOUNT_A["access_key_id"], ACCOUNT_A["secret_access_key"])
    b = auth_server.glue(ACCOUNT_B["access_key_id"], ACCOUNT_B["secret_access_key"])
    for i in range(3):
        create_session(a, f"acct-a-{i}")
        create_session(b, f"acct-b-{i}")
    token = a.list_sessions(MaxResults=1)["NextToken"]
    expect_client_error(b.list_sessions, "InvalidInputException", NextToken=token, MaxResults=1)
    # ... and A can still use it.
    assert a.list_sessions(NextToken=token, MaxResults=1)["Ids"][0].startswith("acct-a-")


def test_token_from_another_region_is_invalid_input(glue, populated):
    """A token is bound to the caller, i.e. its (account, region)."""
    page = glue.list_sessions(MaxResults=2)
    west = glue_client(glue.meta.endpoint_url, region="us-west-2")
    expect_client_error(
        west.list_sessions, "InvalidInputException", NextToken=page["NextToken"], MaxResults=2
    )


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_paging_1000_sessions_under_concurrent_churn(server_factory):
    """Walk ≥1,000 sessions in pages while other threads insert new sessions and delete
    sessions that are not part of the stable set: no duplicates, no stable session missed."""
    srv = server_factory()
    stable = [f"stable-{i:04d}" for i in range(1000)]
    victims = [f"victim-{i:03d}" for i in range(200)]
    t0 = time.monotonic()
    order = stable + victims
    random.Random(7).shuffle(order)  # interleave so victims sit between stable sessions
    _create_many(srv, order)
    create_s = time.monotonic() - t0

    stop = threading.Event()
    walking = threading.Event()
    during = {"created": 0, "deleted": 0}
    created_new: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def creator(n):
        g = srv.glue()
        i = 0
        while not stop.is_set():
            sid = f"new-{n}-{i:04d}"
            create_session(g, sid)
            with lock:
                created_new.append(sid)
                if walking.is_set():
                    during["created"] += 1
            i += 1

    victim_queue = list(victims)

    def deleter():
        g = srv.glue()
        walking.wait(timeout=60)  # delete only while the walk is under way
        while not stop.is_set():
            with lock:
                if not victim_queue:
                    return
                sid = victim_queue.pop()
            g.delete_session(Id=sid)
            with lock:
                if walking.is_set():
                    during["deleted"] += 1
            time.sleep(0.005)

    def guard(fn, *a):
        try:
            fn(*a)
        except BaseException as e:  # noqa: BLE001 — surfaced below
            errors.append(e)

    threads = [threading.Thread(target=guard, args=(creator, n)) for n in range(2)]
    threads += [threading.Thread(target=guard, args=(deleter,)) for _ in range(2)]
    for t in threads:
        t.start()
    walker = srv.glue()
    seen: list[str] = []
    pages = 0
    try:
        time.sleep(0.2)  # let the churn get going
        walking.set()
        t1 = time.monotonic()
        token = None
        while True:
            kw = {"MaxResults": 25}
            if token:
                kw["NextToken"] = token
            page = walker.list_sessions(**kw)
            _check_page(page)
            pages += 1
            seen.extend(page["Ids"])
            token = page.get("NextToken")
            if not token:
                break
            assert pages < 2000
            time.sleep(0.005)  # pace the walk so the churn overlaps it
        walk_s = time.monotonic() - t1
        walking.clear()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, f"churn threads failed: {errors[:3]}"
    dupes = {s for s, n in Counter(seen).items() if n > 1}
    assert not dupes, f"{len(dupes)} sessions returned twice, e.g. {sorted(dupes)[:5]}"
    missing = set(stable) - set(seen)
    assert not missing, f"{len(missing)} stable sessions never listed, e.g. {sorted(missing)[:5]}"
    unknown = set(seen) - set(stable) - set(victims) - set(created_new)
    assert not unknown, f"listed sessions nobody created: {sorted(unknown)[:5]}"
    assert during["created"] > 0 and during["deleted"] > 0, (
        f"no churn overlapped the walk: {during}"
    )
    print(
        f"\ncreated 1200 in {create_s:.1f}s; walked {len(seen)} ids in {pages} pages in {walk_s:.2f}s "
        f"while {during['created']} were created and {during['deleted']} deleted"
    )


def test_token_survives_deletion_of_its_anchor(glue, uid):
    """Keyset paging: deleting the last session of a page doesn't break or repeat the walk."""
    ids = [f"anchor-{uid}-{i}" for i in range(6)]
    for sid in ids:
        create_session(glue, sid, Tags={"anchor": uid})
    first = glue.list_sessions(MaxResults=2, Tags={"anchor": uid})
    assert len(first["Ids"]) == 2
    for sid in first["Ids"]:
        glue.delete_session(Id=sid)
    rest, _ = list_all(glue, max_results=2, tags={"anchor": uid}, NextToken=first["NextToken"])
    assert sorted(first["Ids"] + rest) == sorted(ids)
