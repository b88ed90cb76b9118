from __future__ import annotations

import httpx


def test_search_ranks_matching_articles_and_pages(client: httpx.Client) -> None:
    first = client.get("/knowledge/articles/search", params={"query": "lost card", "per_page": 5})
    assert first.status_code == 200
    body = first.json()
    assert body["page"] == 1
    assert body["count"] > 5
    assert body["next_page"] == 2
    assert len(body["results"]) == 5
    assert "card_lost" in body["results"][0]["label_names"]
    assert "lost card" in body["results"][0]["title"].lower()
    second = client.get(
        "/knowledge/articles/search", params={"query": "lost card", "per_page": 5, "page": 2}
    ).json()
    first_ids = {article["id"] for article in body["results"]}
    assert not first_ids & {article["id"] for article in second["results"]}
    last_page = (body["count"] + 4) // 5
    last = client.get(
        "/knowledge/articles/search",
        params={"query": "lost card", "per_page": 5, "page": last_page},
    ).json()
    assert last["next_page"] is None


def test_search_without_matches_is_empty_and_bad_paging_is_rejected(
    client: httpx.Client,
) -> None:
    empty = client.get("/knowledge/articles/search", params={"query": "zyzzyva"}).json()
    assert empty == {"results": [], "count": 0, "page": 1, "next_page": None}
    for params in ({}, {"query": "card", "per_page": "0"}, {"query": "card", "page": "x"}):
        assert client.get("/knowledge/articles/search", params=params).status_code == 400


def test_by_intent_groups_articles_and_drops_unknown_intents(client: httpx.Client) -> None:
    response = client.get(
        "/knowledge/articles/by-intent",
        params={"intent": ["card_lost", "fraud_report", "card_lost", "no_such"], "per_intent": 2},
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert set(results) == {"card_lost", "fraud_report"}
    for intent, articles in results.items():
        assert len(articles) == 2
        assert all(intent in article["label_names"] for article in articles)
    over = client.get(
        "/knowledge/articles/by-intent", params={"intent": [f"i{n}" for n in range(201)]}
    )
    assert over.status_code == 400


def test_about_two_hundred_articles_exist(client: httpx.Client) -> None:
    words = "card payment account fraud transfer online statement loan fee"
    body = client.get("/knowledge/articles/search", params={"query": words, "per_page": 100}).json()
    assert 150 <= body["count"] <= 250
