"""`/knowledge`: ~200 articles searchable by text and by intent, Zendesk Guide-flavoured.

Articles are few, so they are all built eagerly with an inverted index; a search is a handful of
dict look-ups and a sort over the hits.
"""

from __future__ import annotations

import random
import re
import zlib
from dataclasses import dataclass

import orjson

from .http import Handler, Request, Response, join, ok
from .records import Clock, dumps
from .vocabulary import ARTICLE_TEMPLATES, GENERAL_ARTICLES, INTENT_NAMES, INTENTS

MAX_BATCH = 200
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Article:
    article_id: int
    labels: tuple[str, ...]
    body: bytes


def _slug(title: str) -> str:
    return "-".join(_WORD.findall(title.lower()))


class Knowledge:
    def __init__(self, seed: int, clock: Clock) -> None:
        rng = random.Random(seed * 31 + 0xA57)
        drafts: list[tuple[str, str, tuple[str, ...]]] = []  # (title, snippet, labels)
        for intent in INTENTS:
            topic = intent.topic
            for template in ARTICLE_TEMPLATES:
                title = template.format(topic=topic, Topic=topic[0].upper() + topic[1:])
                related = [n for n in INTENT_NAMES if n != intent.name]
                extra = (rng.choice(related),) if rng.random() < 0.3 else ()
                snippet = f"What agents need for {topic}: {intent.keywords}."
                drafts.append((title, snippet, (intent.name, *extra)))
        for title in GENERAL_ARTICLES:
            general = tuple(rng.sample(INTENT_NAMES, 3))
            drafts.append((title, f"{title}, applies to every contact.", general))
        ids = sorted(rng.sample(range(360_000_000, 360_099_999), len(drafts)))
        self.articles: list[Article] = []
        self._words: dict[str, list[int]] = {}
        self._by_intent: dict[str, list[int]] = {}
        for position, ((title, snippet, labels), article_id) in enumerate(
            zip(drafts, ids, strict=True)
        ):
            body = dumps(
                {
                    "id": article_id,
                    "title": title,
                    "snippet": snippet,
                    "html_url": f"https://help.example.com/hc/en-us/articles/{article_id}-"
                    f"{_slug(title)}",
                    "label_names": list(labels),
                    "updated_at": clock.iso(rng.randint(3_600, 700 * 86_400)),
                }
            )
            self.articles.append(Article(article_id, labels, body))
            text = f"{title} {title} {snippet} {' '.join(labels).replace('_', ' ')}".lower()
            for word in _WORD.findall(text):
                self._words.setdefault(word, []).append(position)
            for label in labels:
                self._by_intent.setdefault(label, []).append(position)

    def routes(self) -> dict[str, Handler]:
        return {
            "GET /articles/search": self.search,
            "GET /articles/by-intent": self.by_intent,
        }

    def search(self, request: Request) -> Response:
        """Ranked by how often the query's terms occur (title words count twice)."""
        query = request.required("query")
        per_page = request.integer("per_page", 10, 1, 100)
        page = request.integer("page", 1, 1, 10_000)
        scores: dict[int, int] = {}
        for word in set(_WORD.findall(query.lower())):
            for position in self._words.get(word, ()):
                scores[position] = scores.get(position, 0) + 1
        ranked = sorted(scores, key=lambda p: (-scores[p], self.articles[p].article_id))
        start = (page - 1) * per_page
        hits = [self.articles[p].body for p in ranked[start : start + per_page]]
        next_page = page + 1 if start + per_page < len(ranked) else None
        return ok(
            b'{"results":[%b],"count":%d,"page":%d,"next_page":%b}'
            % (join(hits), len(ranked), page, orjson.dumps(next_page))
        )

    def by_intent(self, request: Request) -> Response:
        per_intent = request.integer("per_intent", 3, 1, 20)
        intents = [i for i in request.batch("intent", MAX_BATCH) if i in self._by_intent]
        intents.sort(key=lambda name: zlib.crc32(name.encode()))
        groups = [
            b"%b:[%b]"
            % (
                orjson.dumps(name),
                join([self.articles[p].body for p in self._by_intent[name][:per_intent]]),
            )
            for name in intents
        ]
        return ok(b'{"results":{%b}}' % join(groups))
