"""CRM cases and knowledge-base articles: reference and service records, nothing sensitive."""

from __future__ import annotations

from datetime import datetime

import strawberry

from sources import records

from .binding import Binding, Read
from .enums import CaseCategory, CasePriority, CaseStatus

__all__ = ["Article", "Case"]


@strawberry.type(description="A knowledge-base article.")
class Article:
    id: strawberry.ID
    title: str
    summary: str
    url: str
    intents: list[str]

    @classmethod
    def of(cls, r: records.Article) -> Article:
        return cls(
            id=strawberry.ID(r.id),
            title=r.title,
            summary=r.summary,
            url=r.url,
            intents=list(r.intents),
        )


ARTICLE_BINDING: dict[str, Binding] = {"intents": Read(lambda r: list(r.intents))}


@strawberry.type(description="A CRM case.")
class Case:
    id: strawberry.ID
    number: str
    subject: str
    status: CaseStatus
    priority: CasePriority
    category: CaseCategory
    opened_at: datetime
    updated_at: datetime
    owner: str | None = strawberry.field(description="The CRM user or queue working the case.")

    @classmethod
    def of(cls, r: records.Case) -> Case:
        return cls(
            id=strawberry.ID(r.id),
            number=r.number,
            subject=r.subject,
            status=CaseStatus(r.status),
            priority=CasePriority(r.priority),
            category=CaseCategory(r.category),
            opened_at=r.opened_at,
            updated_at=r.updated_at,
            owner=r.owner,
        )


CASE_BINDING: dict[str, Binding] = {}
