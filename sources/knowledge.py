"""The knowledge base: articles searchable by text and by intent (Zendesk Guide-flavoured)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from ._batch import chunked
from ._client import SourceClient
from ._decode import Decoded, Int64, Reader, Shape, parse_instant
from ._errors import SourceBadResponse
from .records import Article

__all__ = ["KnowledgeClient"]


class KnowledgeClient(SourceClient):
    async def search(self, query: str, first: int) -> list[Article]:
        return await self.fetch(
            "/articles/search",
            [("query", query), ("per_page", str(first))],
            ARTICLES,
        )

    async def by_intent(self, intents: Iterable[str], per_intent: int) -> dict[str, list[Article]]:
        """The top `per_intent` articles for each intent; unknown intents are absent."""

        async def fetch(chunk: Sequence[str]) -> list[tuple[str, list[Article]]]:
            params = [("intent", i) for i in chunk]
            params.append(("per_intent", str(per_intent)))
            body = await self.transport.get_json(
                "/articles/by-intent", params, decode=BY_INTENT.fast
            )
            wanted = set(chunk)
            if type(body) is Decoded:  # well-formed (the fast way): is each intent one asked?
                pairs = [(intent, list(articles)) for intent, articles in body.items]
                if not all(intent in wanted for intent, _ in pairs):
                    raise SourceBadResponse(
                        self.name, f"{self.name} answered an intent not asked for"
                    )
                return pairs
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, dict):
                raise SourceBadResponse(self.name, f"{self.name} answered a malformed envelope")
            out = []
            for intent, articles in results.items():
                if intent not in wanted:
                    raise SourceBadResponse(
                        self.name, f"{self.name} answered an intent not asked for"
                    )
                if not isinstance(articles, list):
                    raise SourceBadResponse(self.name, f"{self.name} answered a malformed envelope")
                out.append((intent, [_article(Reader(self.name, "article", a)) for a in articles]))
            return out

        pairs = await chunked(intents, self.transport.settings.max_batch, fetch)
        return dict(pairs)


def _article(r: Reader) -> Article:
    return Article(
        id=r.ident("id"),
        title=r.text("title"),
        summary=r.opt_text("snippet") or "",
        url=r.text("html_url"),
        intents=r.texts("label_names"),
        updated_at=r.opt_instant("updated_at"),
    )


# The fast way (sources/_decode.py; the conventions of sources/_core_answers.py).


class _Article(msgspec.Struct, gc=False):
    id: Int64 | str
    title: str
    html_url: str
    snippet: str | None = None
    label_names: list[str] | None = None
    updated_at: str | None = None


class _Search(msgspec.Struct, gc=False):
    results: list[_Article]


class _ByIntent(msgspec.Struct, gc=False):
    results: dict[str, list[_Article]]


def _build(a: _Article) -> Article:
    updated = a.updated_at
    return Article(
        id=str(a.id),
        title=a.title,
        summary=a.snippet or "",
        url=a.html_url,
        intents=tuple(a.label_names or ()),
        updated_at=None if updated is None else parse_instant(updated),
    )


def _build_search(answer: _Search) -> list[Article]:
    return [_build(a) for a in answer.results]


def _build_by_intent(answer: _ByIntent) -> list[tuple[str, tuple[Article, ...]]]:
    """Tuples: the transport's stale-if-error cache may keep them (a caller gets lists)."""
    return [(intent, tuple(map(_build, found))) for intent, found in answer.results.items()]


ARTICLES = Shape("article", ("results",), _article, _Search, _build_search)
BY_INTENT = Shape("article", ("results",), _article, _ByIntent, _build_by_intent)
"""Only its fast way is used: `KnowledgeClient.by_intent` reads a refused answer itself."""
