"""Categories: created on first use (categories grow with the forum), renamed and merged by
moderators. A category is found by its slug, so "Emploi", "emploi" and "Émploi" are one."""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from storage.models import Category, CategoryFollow, Message, Topic

_NON_WORD_RE = re.compile(r"[^a-z0-9]+")


class CategoryError(Exception):
    """A category change that cannot be made; the message says why."""


def slugify(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    return _NON_WORD_RE.sub("-", folded).strip("-")[:200]


def clean_name(name: str) -> str:
    name = " ".join(name.split())[:200]
    if not slugify(name):
        raise CategoryError(f"{name!r} is not a usable category name (no letter or digit)")
    return name


def category_for_name(session: Session, name: str) -> tuple[Category, bool]:
    """The category of that name (found by slug), created if missing; (category, created)."""
    name = clean_name(name)
    slug = slugify(name)
    found = session.scalar(select(Category).where(Category.slug == slug))
    if found is not None:
        return found, False
    category = Category(name=name, slug=slug)
    session.add(category)
    session.flush()
    return category, True


def all_categories(session: Session) -> list[tuple[Category, int]]:
    """Every category with its number of topics, by name."""
    counts = dict(session.execute(select(Topic.category_id, func.count()).group_by(Topic.category_id)).all())
    return [(c, counts.get(c.id, 0)) for c in session.scalars(select(Category).order_by(Category.name))]


def rename_category(session: Session, category_id: int, new_name: str) -> tuple[str, str]:
    """Rename (the slug follows); (old name, new name). Refused if the new slug is taken."""
    category = _category(session, category_id)
    new_name = clean_name(new_name)
    slug = slugify(new_name)
    taken = session.scalar(select(Category.id).where(Category.slug == slug, Category.id != category.id))
    if taken is not None:
        raise CategoryError(f"a category named {new_name!r} already exists: merge them instead")
    old = category.name
    category.name, category.slug = new_name, slug
    _reindex_category(session, category.id)
    return old, new_name


def merge_categories(session: Session, source_id: int, target_id: int) -> tuple[str, str]:
    """Move every topic (and follower) of `source` into `target`, then remove `source`."""
    if source_id == target_id:
        raise CategoryError("a category cannot be merged into itself")
    source, target = _category(session, source_id), _category(session, target_id)
    session.execute(update(Topic).where(Topic.category_id == source.id).values(category_id=target.id))
    # A member following both keeps one follow of the target.
    following_target = select(CategoryFollow.person_id).where(CategoryFollow.category_id == target.id)
    session.execute(delete(CategoryFollow).where(CategoryFollow.category_id == source.id,
                                                 CategoryFollow.person_id.in_(following_target)))
    session.execute(update(CategoryFollow).where(CategoryFollow.category_id == source.id)
                    .values(category_id=target.id))
    names = (source.name, target.name)
    session.delete(source)
    session.flush()
    _reindex_category(session, target.id)
    return names


def _category(session: Session, category_id: int) -> Category:
    category = session.get(Category, category_id)
    if category is None:
        raise CategoryError(f"unknown category #{category_id}")
    return category


def _reindex_category(session: Session, category_id: int) -> None:
    # The index files each message under its topic's category name.
    topics = select(Topic.id).where(Topic.category_id == category_id)
    session.execute(update(Message).where(Message.topic_id.in_(topics)).values(indexed_at=None))
