"""The knowledge base: articles searchable by text and by intent (Zendesk Guide-flavoured)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ._batch import chunked
from ._client import SourceClient
from ._decode import Reader
from ._errors import SourceBadResponse
from .records import Article

__all__ = ["KnowledgeClient"]


class KnowledgeClient(SourceClient):
    async def search(self, query: str, first: int) -> list[Article]:
        return await self.fetch(
            "/articles/search",
            [("query", query), ("per_page", str(first))],
            ("results",),
            "article",
            _article,
        )

    async def by_intent(self, intents: Iterable[str], per_intent: int) -> dict[str, list[Article]]:
        """The top `per_intent` articles for each intent; unknown intents are absent."""

        async def fetch(chunk: Sequence[str]) -> list[tuple[str, list[Article]]]:
            params = [("intent", i) for i in chunk]
            params.append(("per_intent", str(per_intent)))
            body = await self.transport.get_json("/articles/by-intent", params)
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, dict):
                raise SourceBadResponse(self.name, f"{self.name} answered a malformed envelope")
            out = []
            wanted = set(chunk)
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
